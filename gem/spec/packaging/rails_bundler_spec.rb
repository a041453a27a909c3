# frozen_string_literal: true

require_relative "support/packaging"

# A new Rails app that gets tasker-core-rb the way docs/rails.md says — a Gemfile line and
# Bundler — then runs the docs' generator and `bin/rails runner` commands as printed there.
# Once with the gem from this checkout (`path:`), once with the precompiled gem file that
# `rake gem` builds, installed with `gem install --local` first (what docs/install.md says
# to do with a gem file). Issue 13, items 3 and 5.
#
# Not vendor/cache: Bundler then copies every gem of the bundle into it and fails on
# Debian's packaged gems, which come without their .gem files ("Missing gem file").
#
# Everything runs in child processes (Rails never enters the RSpec process), offline:
# Debian's packaged Rails and sqlite3 gems, `bundle install --local`, and an empty GEM_HOME
# for whatever Bundler installs, so nothing is written to the system's gems.
RSpec.describe "a new Rails app with gem \"tasker-core-rb\" in its Gemfile, through Bundler", :packaging do
  # docs/rails.md's Install section, and its shell blocks in order.
  install_section = File.read(File.join(Packaging::ROOT, "docs/rails.md"))[/^## Install\n(.*?)^## /m, 1]
  install_commands = install_section.to_s.scan(/^```sh\n(.*?)^```/m).flatten
  define_method(:install_section) { install_section }
  define_method(:install_commands) { install_commands }

  before(:all) do
    @dir = Dir.mktmpdir("tasker-bundler")
    # One `rails new` (Debian's railties, no Bundler yet), copied for each way of getting the gem.
    @template = File.join(@dir, "template")
    created = Packaging.run([RbConfig.ruby, Gem.bin_path("railties", "rails"), "new", @template, "--minimal", "--skip-bundle",
                             "--skip-git", "--skip-javascript", "--skip-bootsnap", "--skip-listen", "-d", "sqlite3"],
                            chdir: @dir, timeout: 120)
    raise "rails new failed:\n#{created}" unless created.success?
  end

  after(:all) { FileUtils.rm_rf(@dir) }

  it "documents the Gemfile line, bundle install, the generator and a runner command" do
    expect(install_section).to include(%(gem "tasker-core-rb"))
    expect(install_commands.join).to include("bundle install").and include("bin/rails generate tasker_core:install")
      .and include("bin/rails runner")
  end

  # Makes an app from the template whose Gemfile lists Debian's Rails and sqlite3 and the
  # gem as `gem_line` says, then runs the docs' commands in it (`bundle install` offline,
  # with --local). With `probe`, every Ruby reports where TaskerCore came from.
  # @return [Hash] name => Packaging::Run, and :root, :loaded
  def follow_docs(name, gem_line, probe:)
    root = File.join(@dir, name)
    FileUtils.cp_r(@template, root)
    File.write(File.join(root, "Gemfile"), <<~GEMFILE)
      source "https://rubygems.org"

      gem "rails", "~> 6.1.7"
      gem "sqlite3", "~> 1.4"
      #{gem_line}
    GEMFILE
    home = File.join(@dir, "#{name}_gem_home")
    env = Packaging.env(home, system_gems: true)
    yield root, env if block_given?
    runs = { root: root, home: home }
    install_commands.each_with_index do |block, index|
      script = block.gsub(/^bundle install$/, "bundle install --local")
      run_env = script.include?("bin/rails runner") ? env.merge("RUBYOPT" => "-r#{probe}") : env
      runs[index] = run = Packaging.run(["bash", "-euo", "pipefail", "-c", script], chdir: root, env: run_env, timeout: 180)
      raise "docs/rails.md's commands failed in the #{name} app:\n#{run}" unless run.success?
    end
    runs[:output] = runs[install_commands.size - 1]
    runs[:loaded] = Packaging.loaded(runs[:output])
    runs[:log] = File.read(File.join(root, "log/development.log"))
    runs
  end

  shared_examples "an app that follows docs/rails.md" do
    it "runs the generated example workflow with `bin/rails runner` to completion" do
      output = @runs[:output].stdout
      expect(output).to include(%("compose_greeting"=>{"greeting"=>"Hello, Ada!"}))
        .and include(%("deliver_greeting"=>{"delivered_via"=>"log", "greeting"=>"Hello, Ada!"}))
      expect(@runs[:log]).to include("tasker-core: started in rails runner")
        .and match(%r{tasker-core: task \d+ \(example/welcome\) complete})
    end

    it "writes the generator's files" do
      %w[config/initializers/tasker_core.rb config/tasker/tasks/example/welcome.yaml
         app/handlers/example/compose_greeting.rb app/handlers/example/deliver_greeting.rb].each do |file|
        expect(File).to exist(File.join(@runs[:root], file))
      end
    end
  end

  context "with the gem from a checkout (path:)" do
    before(:all) do
      probe = Packaging.write_probe(@dir)
      @runs = follow_docs("from_path", %(gem "tasker-core-rb", path: #{Packaging::GEM_DIR.inspect}), probe: probe)
    end

    include_examples "an app that follows docs/rails.md"

    it "loads TaskerCore through Bundler from the checkout's gem/lib" do
      expect(@runs[:loaded]["gem_dir"]).to eq(Packaging::GEM_DIR)
      expect(@runs[:loaded]["features"]).to include(File.join(Packaging::GEM_DIR, "lib/tasker-core-rb.rb"))
    end
  end

  context "with the precompiled gem file installed first (gem install --local, docs/install.md)" do
    before(:all) do
      gem = Packaging.gems.fetch(:native)
      probe = Packaging.write_probe(@dir)
      @gem_name = File.basename(gem, ".gem")
      @runs = follow_docs("from_gem_file", %(gem "tasker-core-rb"), probe: probe) do |root, env|
        installed = Packaging.run(["gem", "install", "--local", "--no-document", gem], chdir: root, env: env, timeout: 120)
        raise "gem install --local #{gem} failed:\n#{installed}" unless installed.success?
      end
    end

    include_examples "an app that follows docs/rails.md"

    it "installs the gem from the gem file into GEM_HOME and loads TaskerCore from there" do
      gem_dir = File.join(@runs[:home], "gems", @gem_name)
      expect(@runs[:loaded]["gem_dir"]).to eq(gem_dir)
      expect(@runs[:loaded]["platform"]).to eq(Gem::Platform.local.to_s)
      expect(@runs[:loaded]["features"]).to include(File.join(gem_dir, "lib/tasker-core-rb.rb"),
                                                    File.join(gem_dir, "lib/tasker_core/tasker_core_ext.so"))
      expect(@runs[:loaded]["load_path"]).to all(satisfy { |dir| !dir.start_with?("#{Packaging::ROOT}/") })
    end
  end
end
