//! `TaskerCore::Native::TaskGraph`: one task's (or one template's) step graph, read once,
//! answering analyses and drawing pictures in Rust. Held by the Ruby analyzers so repeated
//! questions about the same snapshot cost no second read of the store.

use crate::helpers::convert::interned_utf8;
use crate::helpers::errors::{error, guard, to_ruby as err};
use crate::helpers::nogvl::blocking;
use crate::helpers::view::{to_ruby, Keys};
use magnus::{function, method, prelude::*, Error, RArray, RHash, RModule, Ruby, Value};
use tasker_engine::StoredGraph as CoreGraph;
use tasker_graph::{
    analyze_template, to_dot, to_mermaid, to_svg, Dag, RuntimeAnalysis, RuntimeGraph, StepFacts,
};
use tasker_model::TaskTemplate;

/// See the module documentation.
#[magnus::wrap(class = "TaskerCore::Native::TaskGraph", free_immediately, size)]
pub struct TaskGraph {
    dag: Dag,
    /// Per step, for a stored task; `None` for a template (nothing has run).
    facts: Option<Vec<StepFacts>>,
}

impl TaskGraph {
    /// A stored task's graph (see `Native::Engine#task_graph`).
    pub fn from_task(graph: CoreGraph) -> TaskGraph {
        TaskGraph {
            dag: graph.dag,
            facts: Some(graph.facts),
        }
    }

    /// A template's graph.
    pub fn from_dag(dag: Dag) -> TaskGraph {
        TaskGraph { dag, facts: None }
    }

    /// `TaskGraph.from_template_yaml(yaml, source)`: the graph of a template file under
    /// review. Unlike registration, a dependency cycle is allowed: it is what the analysis
    /// reports.
    fn from_template_yaml(yaml: String, source: String) -> Result<TaskGraph, Error> {
        guard(|| {
            let template = TaskTemplate::from_yaml(&yaml, &source).map_err(err)?;
            let dag = Dag::from_template(&template)
                .map_err(|e| error("ValidationError", format!("{source}: {e}")))?;
            Ok(TaskGraph::from_dag(dag))
        })
    }

    fn size(&self) -> usize {
        self.dag.len()
    }

    fn is_runtime(&self) -> bool {
        self.facts.is_some()
    }

    fn runtime(&self) -> Result<RuntimeGraph<'_>, Error> {
        let facts = self.facts.as_deref().ok_or_else(|| {
            error(
                "OrchestrationError",
                "a template's graph has no runtime facts; analyse a task instead",
            )
        })?;
        RuntimeGraph::new(&self.dag, facts).map_err(|e| error("OrchestrationError", e.to_string()))
    }

    /// `{cycles:, roots:, leaves:, levels:, longest_path:, topology:}`.
    fn template_analysis(ruby: &Ruby, rb_self: &Self) -> Result<Value, Error> {
        guard(|| to_ruby(ruby, &analyze_template(&rb_self.dag), Keys::Symbol))
    }

    /// `{critical_paths:, parallelism_opportunities:, error_chains:, bottlenecks:}`.
    fn runtime_analysis(ruby: &Ruby, rb_self: &Self) -> Result<RHash, Error> {
        guard(|| {
            let analysis = rb_self
                .runtime()?
                .analyze()
                .map_err(|e| error("OrchestrationError", e.to_string()))?;
            runtime_analysis_hash(ruby, &rb_self.dag, &analysis)
        })
    }

    /// `{"step_b" => ["step_a"], …}` in step order.
    fn dependency_graph(ruby: &Ruby, rb_self: &Self) -> Result<RHash, Error> {
        guard(|| {
            let h = ruby.hash_new();
            for (name, parents) in rb_self.dag.dependency_map().entries() {
                let list = ruby.ary_new_capa(parents.len());
                for p in parents {
                    list.push(&**p)?;
                }
                h.aset(&**name, list)?;
            }
            Ok(h)
        })
    }

    /// `{step_id => [parent step ids]}` in step order.
    fn runtime_dependency_graph(ruby: &Ruby, rb_self: &Self) -> Result<RHash, Error> {
        guard(|| {
            let map = rb_self.runtime()?.runtime_dependency_graph();
            let h = ruby.hash_new();
            for (id, parents) in map.entries() {
                h.aset(*id, parents.clone())?;
            }
            Ok(h)
        })
    }

    /// Names of the parents of step `step_id` that are not complete or resolved manually.
    fn blocking_dependencies(rb_self: &Self, step_id: i64) -> Result<Vec<String>, Error> {
        guard(|| {
            let runtime = rb_self.runtime()?;
            let step = step_index(&runtime, step_id)?;
            Ok(runtime
                .blocking_dependencies(step)
                .unwrap_or_default()
                .iter()
                .map(|n| n.to_string())
                .collect())
        })
    }

    /// `{steps: [names of every step downstream], count:}` for step `step_id`.
    fn downstream_impact(ruby: &Ruby, rb_self: &Self, step_id: i64) -> Result<Value, Error> {
        guard(|| {
            let runtime = rb_self.runtime()?;
            let step = step_index(&runtime, step_id)?;
            to_ruby(ruby, &runtime.downstream_impact(step), Keys::Symbol)
        })
    }

    /// Mermaid flowchart text: steps coloured by state, the critical path marked.
    fn to_mermaid(&self) -> String {
        to_mermaid(&self.dag, self.facts.as_deref(), &self.critical_path())
    }

    /// Graphviz DOT text: steps filled by state, the critical path in thick red.
    fn to_dot(&self) -> String {
        to_dot(&self.dag, self.facts.as_deref(), &self.critical_path())
    }

    /// An SVG document laid out in Rust (no Graphviz): steps coloured by state, the critical
    /// path and edges into failed steps marked. The layout is the slow part of a picture, so
    /// it runs without the GVL; a panic becomes a Ruby exception.
    fn to_svg(&self) -> Result<String, Error> {
        let critical = self.critical_path();
        guard(|| {
            blocking("drawing the graph", || {
                Ok(to_svg(&self.dag, self.facts.as_deref(), &critical))
            })
        })
    }

    /// The path to mark: by recorded durations once steps have run, else by step count.
    fn critical_path(&self) -> Vec<u32> {
        match self.runtime() {
            // Just the paths: a full analysis would also count every step's descendants.
            Ok(runtime) if self.dag.is_acyclic() => {
                let paths = runtime.critical_paths();
                if paths.total_duration_ms > 0.0 {
                    paths.longest_duration_path_steps
                } else {
                    paths.longest_path_steps
                }
            }
            _ => self.dag.longest_path(),
        }
    }
}

fn step_index(runtime: &RuntimeGraph<'_>, step_id: i64) -> Result<u32, Error> {
    runtime.step_with_id(step_id).ok_or_else(|| {
        error(
            "ValidationError",
            format!("step {step_id}: not a step of this task"),
        )
    })
}

/// Builds the analysis Hash directly rather than through JSON: an error early in a large
/// task blocks thousands of steps, and each step's name is then one shared frozen String
/// made once, not a new String per mention (this halves the analysis of a 10,000-step task).
fn runtime_analysis_hash(ruby: &Ruby, dag: &Dag, a: &RuntimeAnalysis) -> Result<RHash, Error> {
    let mut names = NameTable::new(dag);
    let sym = |k: &str| ruby.to_symbol(k);

    let paths = &a.critical_paths;
    let critical = ruby.hash_new();
    critical.aset(sym("longest_path_length"), paths.longest_path_length)?;
    critical.aset(
        sym("longest_path"),
        names.list(ruby, &paths.longest_path_steps)?,
    )?;
    critical.aset(
        sym("longest_duration_path"),
        names.list(ruby, &paths.longest_duration_path_steps)?,
    )?;
    critical.aset(sym("total_duration_ms"), paths.total_duration_ms)?;

    let p = &a.parallelism_opportunities;
    let parallel = ruby.hash_new();
    parallel.aset(
        sym("current_parallel_opportunities"),
        p.current_parallel_opportunities,
    )?;
    let ready = ruby.ary_new_capa(p.ready_steps.len());
    for name in &p.ready_steps {
        ready.push(interned_utf8(name))?;
    }
    parallel.aset(sym("ready_steps"), ready)?;
    parallel.aset(sym("max_parallelism"), p.max_parallelism)?;
    parallel.aset(sym("width_per_level"), p.width_per_level.clone())?;

    let chains = ruby.ary_new_capa(a.error_chains.chains.len());
    for c in &a.error_chains.chains {
        let h = ruby.hash_new();
        h.aset(sym("name"), names.get(c.step)?)?;
        h.aset(sym("id"), c.id)?;
        h.aset(
            sym("blocked_steps"),
            names.list(ruby, &c.blocked_step_indices)?,
        )?;
        h.aset(sym("blocked_count"), c.blocked_count)?;
        chains.push(h)?;
    }
    let errors = ruby.hash_new();
    errors.aset(sym("total_error_steps"), a.error_chains.total_error_steps)?;
    errors.aset(sym("chains"), chains)?;

    let bottlenecks = ruby.ary_new_capa(a.bottlenecks.len());
    for b in &a.bottlenecks {
        let h = ruby.hash_new();
        h.aset(sym("name"), names.get(b.step)?)?;
        h.aset(sym("id"), b.id)?;
        h.aset(sym("state"), b.state.as_str())?;
        h.aset(sym("downstream_count"), b.downstream_count)?;
        bottlenecks.push(h)?;
    }

    let out = ruby.hash_new();
    out.aset(sym("critical_paths"), critical)?;
    out.aset(sym("parallelism_opportunities"), parallel)?;
    out.aset(sym("error_chains"), errors)?;
    out.aset(sym("bottlenecks"), bottlenecks)?;
    Ok(out)
}

/// Step names as Ruby Strings, each made on first use. Every String handed out goes
/// straight into a Ruby Array or Hash reachable from the result being built (on the
/// stack), which is what keeps the cached `Value`s alive while the table lives.
struct NameTable<'a> {
    dag: &'a Dag,
    made: Vec<Option<Value>>,
}

impl<'a> NameTable<'a> {
    fn new(dag: &'a Dag) -> NameTable<'a> {
        NameTable {
            dag,
            made: vec![None; dag.len()],
        }
    }

    fn get(&mut self, step: u32) -> Result<Value, Error> {
        let slot = self
            .made
            .get_mut(step as usize)
            .ok_or_else(|| error("Error", format!("step index {step} out of range")))?;
        if let Some(v) = slot {
            return Ok(*v);
        }
        let name = self.dag.name(step).map_or("", |n| &**n);
        let v = interned_utf8(name);
        *slot = Some(v);
        Ok(v)
    }

    fn list(&mut self, ruby: &Ruby, steps: &[u32]) -> Result<RArray, Error> {
        let out = ruby.ary_new_capa(steps.len());
        for &s in steps {
            out.push(self.get(s)?)?;
        }
        Ok(out)
    }
}

/// Defines `TaskerCore::Native::TaskGraph`.
pub fn init(ruby: &Ruby, native: &RModule) -> Result<(), Error> {
    let class = super::wrapped_class(ruby, native, "TaskGraph")?;
    class.define_singleton_method(
        "from_template_yaml",
        function!(TaskGraph::from_template_yaml, 2),
    )?;
    class.define_method("size", method!(TaskGraph::size, 0))?;
    class.define_method("runtime?", method!(TaskGraph::is_runtime, 0))?;
    class.define_method(
        "template_analysis",
        method!(TaskGraph::template_analysis, 0),
    )?;
    class.define_method("runtime_analysis", method!(TaskGraph::runtime_analysis, 0))?;
    class.define_method("dependency_graph", method!(TaskGraph::dependency_graph, 0))?;
    class.define_method(
        "runtime_dependency_graph",
        method!(TaskGraph::runtime_dependency_graph, 0),
    )?;
    class.define_method(
        "blocking_dependencies",
        method!(TaskGraph::blocking_dependencies, 1),
    )?;
    class.define_method(
        "downstream_impact",
        method!(TaskGraph::downstream_impact, 1),
    )?;
    class.define_method("to_mermaid", method!(TaskGraph::to_mermaid, 0))?;
    class.define_method("to_dot", method!(TaskGraph::to_dot, 0))?;
    class.define_method("to_svg", method!(TaskGraph::to_svg, 0))?;
    Ok(())
}
