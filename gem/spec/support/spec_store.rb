# frozen_string_literal: true

require "socket"
require "tmpdir"

# Which store the suite runs on: TASKER_SPEC_STORE=sqlite (default), postgres or memory.
# bin/test runs the suite once on SQLite and once on PostgreSQL.
#
# PostgreSQL: TASKER_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test),
# in a schema of its own (tasker_core_spec, dropped and created at the start of the run) so
# the suite never touches other tables. Unreachable: with CI set the run fails; otherwise it
# is skipped with one loud line.
module SpecStore
  KIND = ENV.fetch("TASKER_SPEC_STORE", "sqlite")
  PG_URL = ENV.fetch("TASKER_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
  PG_SCHEMA = "tasker_core_spec"

  module_function

  # A database URL for one engine: a fresh SQLite file, or the spec schema on PostgreSQL.
  def url
    case KIND
    when "memory" then "memory:"
    when "sqlite" then "sqlite://#{File.join(Dir.mktmpdir('tasker-spec'), 'tasks.sqlite3')}"
    when "postgres" then "#{PG_URL}#{PG_URL.include?('?') ? '&' : '?'}options=-c%20search_path%3D#{PG_SCHEMA}"
    else raise ArgumentError, "TASKER_SPEC_STORE must be sqlite, postgres or memory, not #{KIND.inspect}"
    end
  end

  # A store no other spec touches: a SQLite file in `dir`, or on PostgreSQL the schema
  # tasker_core_spec_NAME, dropped and created now.
  def isolated_url(name, dir)
    case KIND
    when "sqlite" then "sqlite://#{File.join(dir, "#{name}.sqlite3")}"
    when "postgres"
      schema = "#{PG_SCHEMA}_#{name}"
      reset_pg_schema(schema)
      "#{PG_URL}#{PG_URL.include?('?') ? '&' : '?'}options=-c%20search_path%3D#{schema}"
    else raise ArgumentError, "no isolated #{KIND} store"
    end
  end

  def postgres? = KIND == "postgres"

  def pg_reachable?
    uri = URI.parse(PG_URL.sub(/\Apostgres(ql)?:/, "http:"))
    Socket.tcp(uri.host || "127.0.0.1", uri.port || 5432, connect_timeout: 2).close
    true
  rescue StandardError
    false
  end

  # Drops and recreates a spec schema (psql, from Debian's postgresql-client).
  def reset_pg_schema(schema = PG_SCHEMA)
    sql = "SET client_min_messages = warning; DROP SCHEMA IF EXISTS #{schema} CASCADE; CREATE SCHEMA #{schema};"
    ok = system("psql", PG_URL, "-q", "-v", "ON_ERROR_STOP=1", "-c", sql, out: File::NULL)
    raise "could not reset schema #{schema} at #{PG_URL} with psql" unless ok
  end
end

require "uri"
if SpecStore.postgres?
  if SpecStore.pg_reachable?
    SpecStore.reset_pg_schema
  elsif ENV["CI"]
    abort "PostgreSQL is unreachable at #{SpecStore::PG_URL} and CI is set: the PostgreSQL run cannot be skipped"
  else
    warn "=" * 78
    warn "SKIPPED: PostgreSQL unreachable at #{SpecStore::PG_URL}; the PostgreSQL run is skipped"
    warn "=" * 78
    RSpec.configure { |c| c.filter_run_including(postgres_unreachable: true) }
  end
end
warn "tasker-core specs: store #{SpecStore::KIND}"
