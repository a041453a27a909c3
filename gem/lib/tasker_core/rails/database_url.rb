# frozen_string_literal: true

require "uri"

module TaskerCore
  module Rails
    # Turns an ActiveRecord database configuration into the URL the engine opens, so by
    # default Tasker's tables live in the app's own database, beside its models.
    #
    #   DatabaseUrl.from_active_record({ adapter: "postgresql", host: "db", database: "shop",
    #                                    schema_search_path: "shop,public" }, root: Rails.root)
    #   # => "postgres://db/shop?options=-c%20search_path%3Dshop%2Cpublic"
    #   DatabaseUrl.from_active_record({ adapter: "sqlite3", database: "db/development.sqlite3" },
    #                                  root: "/app")
    #   # => "sqlite:///app/db/development.tasker_core.sqlite3"
    #
    # On SQLite the engine gets a file of its own beside the app's, never the app's file:
    # the engine carries its own copy of SQLite, and two copies of SQLite in one process
    # cannot share a file. SQLite locks files with POSIX locks, which never conflict within
    # one process, so each copy would write while the other does: the file is corrupted
    # (seen here within seconds: rows of one table written into another). Across processes
    # the locks work, which is why a separate engine process may share a file.
    #
    # Settings libpq and sqlx both understand carry over (host, port, user, password,
    # database, sslmode and its certificate files, schema_search_path); pool sizes, timeouts
    # and variables do not: the engine keeps its own small pool. A host left out stays left
    # out, so the engine finds the server the way libpq does (PGHOST, else the local
    # socket).
    module DatabaseUrl
      # ActiveRecord adapters whose databases the engine can open.
      POSTGRES_ADAPTERS = %w[postgresql postgis].freeze
      # See {POSTGRES_ADAPTERS}.
      SQLITE_ADAPTERS = %w[sqlite3].freeze
      # SSL settings passed through as URL parameters of the same name.
      SSL_KEYS = %i[sslmode sslrootcert sslcert sslkey].freeze

      module_function

      # The engine's URL for an ActiveRecord configuration hash.
      # @param config [Hash] ActiveRecord's configuration_hash (Symbol or String keys)
      # @param root [String, Pathname] what relative SQLite paths are relative to (Rails.root)
      # @return [String]
      # @raise [ConfigurationError] for an adapter or database the engine cannot share
      def from_active_record(config, root:)
        config = config.to_h.transform_keys(&:to_sym)
        adapter = config[:adapter].to_s
        if POSTGRES_ADAPTERS.include?(adapter)
          postgres(config)
        elsif SQLITE_ADAPTERS.include?(adapter)
          sqlite(config, root)
        else
          raise ConfigurationError,
                "ActiveRecord's database uses the #{adapter.empty? ? 'unnamed' : adapter} adapter; " \
                "tasker-core stores tasks in PostgreSQL or SQLite: set config.tasker_core.database_url"
        end
      end

      # A PostgreSQL URL: postgres://user:password@host:port/database?options…
      # @param config [Hash{Symbol => Object}]
      # @return [String]
      def postgres(config)
        database = config[:database].to_s
        if database.empty?
          raise ConfigurationError, "ActiveRecord's PostgreSQL configuration names no database: " \
                                    "set config.tasker_core.database_url"
        end

        host = config[:host].to_s
        user = (config[:username] || config[:user])&.to_s
        password = config[:password]&.to_s
        params = []
        # sqlx refuses credentials before an empty host, and a socket directory cannot be
        # a host in a URL: then everything goes in parameters.
        by_params = host.empty? || host.start_with?("/")
        if by_params
          params << "host=#{escape(host)}" unless host.empty?
          params << "port=#{Integer(config[:port])}" if config[:port]
          params << "user=#{escape(user)}" if user
          params << "password=#{escape(password)}" if password
        end
        search_path = config[:schema_search_path].to_s.split(",").map(&:strip).reject(&:empty?)
        params << "options=#{escape("-c search_path=#{search_path.join(',')}")}" if search_path.any?
        SSL_KEYS.each { |key| params << "#{key}=#{escape(config[key].to_s)}" if config[key] }
        authority = by_params ? "" : authority(user, password, host, config[:port])
        "postgres://#{authority}/#{escape(database)}#{"?#{params.join('&')}" if params.any?}"
      end

      # A SQLite URL for the engine's own file beside ActiveRecord's (see above):
      # db/development.sqlite3 gives db/development.tasker_core.sqlite3.
      # @param config [Hash{Symbol => Object}]
      # @param root [String, Pathname]
      # @return [String]
      def sqlite(config, root)
        path = active_record_sqlite_path(config, root)
        unless path
          raise ConfigurationError, "ActiveRecord uses an in-memory SQLite database (#{config[:database].inspect}): " \
                                    "set config.tasker_core.database_url"
        end

        extension = File.extname(path)
        "sqlite://#{path.delete_suffix(extension)}.tasker_core#{extension.empty? ? '.sqlite3' : extension}"
      end

      # The absolute path of the SQLite file ActiveRecord opens; nil for other adapters and
      # in-memory databases.
      # @param config [Hash] ActiveRecord's configuration_hash
      # @param root [String, Pathname]
      # @return [String, nil]
      def active_record_sqlite_path(config, root)
        config = config.to_h.transform_keys(&:to_sym)
        return nil unless SQLITE_ADAPTERS.include?(config[:adapter].to_s)

        database = config[:database].to_s
        return nil if database.empty? || database == ":memory:" || database.include?("mode=memory")

        File.expand_path(database.delete_prefix("file:").split("?", 2).first, root.to_s)
      end

      # `url` with its passwords hidden, wherever they are (see {Engine.redact}).
      # @param url [String]
      # @return [String]
      def redact(url)
        Engine.redact(url)
      end

      # The file a sqlite: URL names (absolute); nil for other URLs and in-memory ones.
      # @param url [String]
      # @return [String, nil]
      def sqlite_path(url)
        return nil unless url.start_with?("sqlite:")

        path = url.sub(%r{\Asqlite:(//)?}, "").split("?", 2).first
        path.empty? || path.start_with?(":memory:") ? nil : File.expand_path(path)
      end

      # user:password@host:port, each part escaped.
      def authority(user, password, host, port)
        credentials = if user && password then "#{escape(user)}:#{escape(password)}@"
                      elsif user then "#{escape(user)}@"
                      else ""
                      end
        host = "[#{host}]" if host.include?(":") && !host.start_with?("[") # IPv6
        "#{credentials}#{host}#{":#{Integer(port)}" if port}"
      end
      private_class_method :authority

      def escape(text)
        URI.encode_www_form_component(text).gsub("+", "%20")
      end
      private_class_method :escape
    end
  end
end
