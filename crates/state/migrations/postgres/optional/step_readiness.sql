-- tasker_core_step_readiness(task_id, now): TASKER.md's eight readiness rules in SQL, one row
-- per workflow step of the task.
--
-- Optional: the engine decides readiness in Rust (tasker_resolver::readiness). This function
-- exists so the same answer can be had from the database alone (inspection, tooling, and the
-- PostgreSQL baseline of the readiness benchmark), and tests/readiness_sql_crosscheck.rs keeps
-- the two in agreement. `now` is a parameter, not now(), so a caller (and that test) decides
-- the instant the rules are evaluated at.
--
-- Columns:
-- - current_state: the most_recent transition's to_state; 'pending' when the step has none.
-- - dependencies_satisfied: rule 3 (no parents, or every parent complete or resolved_manually).
-- - retry_eligible: rules 4 and 5 (attempts, NULL as 0, below retry_limit, NULL as 3; and
--   retryable).
-- - ready_for_execution: rules 1 to 8 together.
-- - next_retry_at: rule 7's time when it applies, else rule 8's when in error, else NULL.
--
-- Rules 2 and 6 read processed / in_process with IS NOT TRUE, so a NULL (impossible in the
-- tables as migrated, NOT NULL DEFAULT false) counts as the column default, false. Rule 5 reads
-- retryable with IS TRUE: a NULL is not "retryable is true".
--
-- Shape: one set-based query, no loops, LANGUAGE sql so the planner can inline it. Its cost
-- follows the task's size, not the tables': the task's steps come from
-- workflow_steps_task_id_index, each step's current state from one probe of the transitions'
-- indexes, its parents from the edges' to_step_id index, and the parents' states from the
-- steps already read. Tables are unqualified and resolved through the caller's search_path
-- (setting one on the function would stop the inlining).

CREATE OR REPLACE FUNCTION tasker_core_step_readiness(
    p_task_id bigint,
    p_now timestamp without time zone
)
RETURNS TABLE (
    workflow_step_id bigint,
    current_state text,
    dependencies_satisfied boolean,
    retry_eligible boolean,
    ready_for_execution boolean,
    next_retry_at timestamp without time zone
)
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    WITH steps AS (
        SELECT
            ws.workflow_step_id,
            coalesce(cur.to_state, 'pending')::text AS current_state,
            ws.processed IS NOT TRUE AS not_processed,
            ws.in_process IS NOT TRUE AS not_in_process,
            -- Rules 4 and 5.
            coalesce(ws.attempts, 0) < coalesce(ws.retry_limit, 3)
                AND ws.retryable IS TRUE AS retry_eligible,
            -- Rule 7: only when both fields are set.
            ws.last_attempted_at + ws.backoff_request_seconds * interval '1 second'
                AS requested_retry_at,
            -- Rule 8: only in error, from the error transition's created_at, waiting
            -- min(2^attempts, 30) seconds with attempts NULL as 1. The exponent is clamped
            -- first so a huge attempts count cannot overflow power(); 2^5 is already past 30.
            CASE WHEN cur.to_state = 'error' THEN
                cur.created_at
                    + least(power(2, least(coalesce(ws.attempts, 1), 5)), 30)
                    * interval '1 second'
            END AS error_retry_at
        FROM tasker_workflow_steps ws
        -- One index probe per step. LIMIT keeps this a per-step lookup (a plain join may
        -- hash the whole transitions table) and, on a database that lacks the partial
        -- unique index, still yields one row per step: the latest of several most_recent.
        LEFT JOIN LATERAL (
            SELECT t.to_state, t.created_at
            FROM tasker_workflow_step_transitions t
            WHERE t.workflow_step_id = ws.workflow_step_id
              AND t.most_recent
            ORDER BY t.sort_key DESC
            LIMIT 1
        ) cur ON true
        WHERE ws.task_id = p_task_id
    ),
    -- Rule 3, for steps that have parents: satisfied when every parent is complete or
    -- resolved_manually (a parent without transitions is pending). Parents are steps of the
    -- same task, so their state comes from `steps` again; an edge from another task's step
    -- (Tasker never writes one) falls back to looking that step's state up.
    parents AS (
        SELECT
            e.to_step_id AS workflow_step_id,
            bool_and(
                coalesce(
                    ps.current_state,
                    (SELECT t.to_state
                       FROM tasker_workflow_step_transitions t
                      WHERE t.workflow_step_id = e.from_step_id
                        AND t.most_recent
                      ORDER BY t.sort_key DESC
                      LIMIT 1),
                    'pending'
                ) IN ('complete', 'resolved_manually')
            ) AS satisfied
        FROM steps s
        JOIN tasker_workflow_step_edges e ON e.to_step_id = s.workflow_step_id
        LEFT JOIN steps ps ON ps.workflow_step_id = e.from_step_id
        GROUP BY e.to_step_id
    )
    SELECT
        s.workflow_step_id,
        s.current_state,
        coalesce(p.satisfied, true) AS dependencies_satisfied,
        s.retry_eligible,
        s.current_state IN ('pending', 'error')                      -- rule 1
            AND s.not_processed                                      -- rule 2
            AND coalesce(p.satisfied, true)                          -- rule 3
            AND s.retry_eligible                                     -- rules 4, 5
            AND s.not_in_process                                     -- rule 6
            AND (s.requested_retry_at IS NULL OR s.requested_retry_at <= p_now)  -- rule 7
            AND (s.error_retry_at IS NULL OR s.error_retry_at <= p_now)          -- rule 8
            AS ready_for_execution,
        coalesce(s.requested_retry_at, s.error_retry_at) AS next_retry_at
    FROM steps s
    LEFT JOIN parents p ON p.workflow_step_id = s.workflow_step_id
    ORDER BY s.workflow_step_id
$$;
