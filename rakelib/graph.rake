# frozen_string_literal: true

# The gem's own rake tasks (tasker:graph), usable from this checkout.
$LOAD_PATH.unshift File.expand_path("../gem/lib", __dir__)
load File.expand_path("../gem/lib/tasker_core/tasks/graph.rake", __dir__)
