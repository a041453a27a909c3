# frozen_string_literal: true

require "fileutils"
require "open3"
require "tmpdir"

module Bench
  # Fresh stores for the durable-state benches (issue 3), so a run never touches other data:
  #
  # - {#sqlite_url}: a new SQLite file in a temp folder of this run's own;
  # - {#postgres_url}: a new schema (`CREATE SCHEMA` with psql) and a URL whose `search_path`
  #   names it; nil when PostgreSQL does not answer, with {#postgres_skipped} saying why;
  # - {#cleanup}: drops every schema it created and deletes the folder. Call it in `ensure`,
  #   after closing the engines that use them.
  #
  # The server: TASKER_BENCH_DATABASE_URL, else TASKER_TEST_DATABASE_URL, else the local
  # `test` database.
  class DurableStores
    DEFAULT_PG_URL = "postgres://postgres@127.0.0.1:5432/test"
    CONNECT_TIMEOUT = 5

    # The backends, in the order the reports list them.
    BACKENDS = %w[memory sqlite postgres].freeze

    # @return [String] the server URL (its password, if any, replaced)
    def self.redacted_pg_url = base_pg_url.sub(%r{(://[^:/@]+:)[^@]*@}, '\1***@')

    def self.base_pg_url
      ENV["TASKER_BENCH_DATABASE_URL"] || ENV["TASKER_TEST_DATABASE_URL"] || DEFAULT_PG_URL
    end

    # @return [String, nil] why PostgreSQL benches did not run
    attr_reader :postgres_skipped

    def initialize(tag)
      @tag = tag
      @dir = Dir.mktmpdir("tasker_core_bench_#{tag}_")
      @files = 0
      @schemas = []
      @postgres_skipped = nil
    end

    # A database_url for `backend` ("memory", "sqlite", "postgres"); nil when skipped.
    def url(backend)
      case backend
      when "memory" then "memory:"
      when "sqlite" then sqlite_url
      when "postgres" then postgres_url
      else raise ArgumentError, "unknown backend #{backend.inspect}"
      end
    end

    # @return [String] a URL of a file that does not exist yet
    def sqlite_url
      @files += 1
      "sqlite://#{File.join(@dir, "#{@tag}_#{@files}.sqlite3")}"
    end

    # @return [String, nil] a URL whose search_path is a schema created for it
    def postgres_url
      return nil if @postgres_skipped

      name = "tasker_core_bench_#{@tag}_#{Process.pid}_#{@schemas.size + 1}_#{(Time.now.to_f * 1e6).to_i}"
      ok, error = psql("CREATE SCHEMA \"#{name}\"")
      unless ok
        @postgres_skipped = "PostgreSQL unreachable at #{self.class.redacted_pg_url} (#{error})"
        warn "SKIPPED: #{@postgres_skipped}; the PostgreSQL rows of benches/#{@tag}.rb did not run " \
             "(set TASKER_BENCH_DATABASE_URL)"
        return nil
      end
      @schemas << name
      base = self.class.base_pg_url
      "#{base}#{base.include?('?') ? '&' : '?'}options=-c%20search_path%3D#{name}"
    end

    # The file system the SQLite files live on (`df --output=fstype`), for the report.
    def sqlite_file_system
      out, status = Open3.capture2("df", "--output=fstype", @dir, err: File::NULL)
      status.success? ? out.lines.last.to_s.strip : "unknown"
    rescue SystemCallError
      "unknown"
    end

    # Drops the schemas and deletes the SQLite files. Engines must be closed first.
    def cleanup
      @schemas.reverse_each do |name|
        ok, error = psql("DROP SCHEMA IF EXISTS \"#{name}\" CASCADE")
        warn "benches: could not drop schema #{name}: #{error}" unless ok
      end
      @schemas.clear
      FileUtils.rm_rf(@dir)
    end

    private

    # @return [Array(Boolean, String)] success and, on failure, psql's message
    def psql(sql)
      env = { "PGCONNECT_TIMEOUT" => CONNECT_TIMEOUT.to_s, "PGOPTIONS" => "-c client_min_messages=warning" }
      cmd = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", self.class.base_pg_url, "-c", sql]
      out, status = Open3.capture2e(env, *cmd)
      [status.success?, out.strip.gsub(/\s+/, " ")]
    rescue SystemCallError => e
      [false, "psql: #{e.message}"]
    end
  end
end
