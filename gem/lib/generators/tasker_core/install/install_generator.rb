# frozen_string_literal: true

require "rails/generators/base"

module TaskerCore
  # Rails generators of tasker-core (`rails generate tasker_core:…`).
  module Generators
    # `rails generate tasker_core:install`: the initializer that configures the engine, the
    # template directory with an example workflow, and the example's step handlers, so a
    # fresh app runs a workflow straight away:
    #
    #   bin/rails generate tasker_core:install
    #   bin/rails runner 'id = TaskerCore.submit("welcome", { "name" => "Ada" }, namespace: "example")
    #                     puts TaskerCore.engine.wait_for_task(id).state'   # => complete
    #
    # Files that exist are left to Thor's usual question (or --skip / --force); running it
    # twice changes nothing.
    class InstallGenerator < ::Rails::Generators::Base
      source_root File.expand_path("templates", __dir__)

      desc "Adds tasker-core to this app: config/initializers/tasker_core.rb, config/tasker/tasks/ " \
           "with an example workflow, and its handlers under app/handlers/."

      class_option :skip_example, type: :boolean, default: false,
                                  desc: "Create the directories but no example workflow or handlers"

      # config/initializers/tasker_core.rb
      # @return [void]
      def create_initializer
        template "tasker_core.rb.tt", "config/initializers/tasker_core.rb"
      end

      # config/tasker/tasks/, where the engine looks for templates by default.
      # @return [void]
      def create_template_directory
        if options[:skip_example]
          create_file "config/tasker/tasks/.keep", ""
        else
          template "welcome.yaml.tt", "config/tasker/tasks/example/welcome.yaml"
        end
      end

      # app/handlers/: autoloaded by Rails like app/models, so handler classes reload in
      # development.
      # @return [void]
      def create_handlers
        if options[:skip_example]
          create_file "app/handlers/.keep", ""
        else
          template "compose_greeting.rb.tt", "app/handlers/example/compose_greeting.rb"
          template "deliver_greeting.rb.tt", "app/handlers/example/deliver_greeting.rb"
        end
      end

      # What to do next.
      # @return [void]
      def show_next_steps
        return if options[:skip_example] || behavior == :revoke

        say ""
        say "tasker-core is installed. Try the example workflow:"
        say %(  bin/rails runner 'id = TaskerCore.submit("welcome", { "name" => "Ada" }, namespace: "example"); ) +
            %(puts TaskerCore.engine.wait_for_task(id).results')
        say "Then write your own templates in config/tasker/tasks/ and handlers in app/handlers/."
      end
    end
  end
end
