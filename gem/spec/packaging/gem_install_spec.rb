# frozen_string_literal: true

require_relative "support/packaging"

# The two gems `rake gem` builds, installed as a user installs them — `gem install --local`
# into an empty GEM_HOME, outside this checkout — and then used: the order-fulfilment
# example (bin/demo) runs against the installed gem, and nothing of the checkout is loaded.
# Issue 13, item 5.
RSpec.describe "the gems users install", :packaging do
  before(:all) { @gems = Packaging.gems }

  # `gem install --local GEM` into `gem_home`, from a folder outside the checkout.
  # @return [Packaging::Run]
  def install(gem_path, gem_home, env: {}, path: ENV.fetch("PATH"))
    env = Packaging.env(gem_home, path: path).merge(env)
    Packaging.run(["gem", "install", "--local", "--no-document", gem_path], chdir: Dir.tmpdir, env: env, timeout: 900)
  end

  # Runs the example from a folder outside the checkout with only `gem_home`'s gems.
  # @return [Packaging::Run]
  def run_example(gem_home, dir)
    demo = Packaging.copy_example(File.join(dir, "example"))
    probe = Packaging.write_probe(dir)
    env = Packaging.env(gem_home, path: Packaging::PATH_WITHOUT_RUST)
    Packaging.run([RbConfig.ruby, "-r", probe, demo], chdir: File.dirname(demo), env: env, timeout: 120)
  end

  shared_examples "an installed gem" do
    it "runs the order-fulfilment example from GEM_HOME, with nothing loaded from the checkout" do
      run = run_example(@home, @dir)
      expect(run).to be_success, run.to_s
      expect(run.stdout).to include("Summary")
      expect(run.stdout.scan(%r{^\s+task \d+\s+complete\s+steps (\d+)/\1 complete}).size).to eq(3), run.to_s
      loaded = Packaging.loaded(run)
      gem_dir = File.join(@home, "gems", File.basename(@gem, ".gem"))
      expect(loaded["gem_dir"]).to eq(gem_dir)
      expect(loaded["features"]).to include(File.join(gem_dir, "lib/tasker_core.rb"),
                                             File.join(gem_dir, "lib/tasker_core/tasker_core_ext.so"))
      expect(loaded["features"]).to all(start_with("#{@home}/"))
      expect(loaded["load_path"]).to all(satisfy { |dir| !dir.start_with?("#{Packaging::ROOT}/") })
    end

    it "installs the tasker-core executable, which loads the installed gem's extension" do
      exe = File.join(@home, "bin", "tasker-core")
      expect(File).to be_executable(exe)
      env = Packaging.env(@home, path: Packaging::PATH_WITHOUT_RUST)
      version = Packaging.run([RbConfig.ruby, exe, "--version"], chdir: @dir, env: env, timeout: 60)
      expect(version.stdout).to eq("tasker-core #{Gem::Package.new(@gem).spec.version}\n"), version.to_s
      # An unusable database fails after the extension loaded: the engine names the file.
      work = Packaging.run([RbConfig.ruby, exe, "work", "-d", "sqlite://#{@dir}/no/such/dir/t.sqlite3"],
                           chdir: @dir, env: env, timeout: 60)
      expect(work.status.exitstatus).to eq(1), work.to_s
      expect(work.stderr).to include("tasker-core work: could not start the engine", "#{@dir}/no/such/dir/t.sqlite3")
    end
  end

  describe "the precompiled gem (#{Gem::Platform.local})" do
    before(:all) do
      @gem = @gems.fetch(:native)
      @dir = Dir.mktmpdir("tasker-native-gem")
      @home = File.join(@dir, "gem_home")
      # No cargo or rustc on PATH: the precompiled gem must not need them.
      @install = install(@gem, @home, path: Packaging::PATH_WITHOUT_RUST)
    end

    after(:all) { FileUtils.rm_rf(@dir) }

    it "carries the compiled extension, and neither extconf.rb nor Rust sources" do
      files = Packaging.contents(@gem)
      expect(files).to include("lib/tasker_core/tasker_core_ext.so", "lib/tasker_core.rb", "lib/tasker-core-rb.rb")
      expect(files.grep(%r{\Aext/|\.rs\z|Cargo})).to be_empty
      spec = Gem::Package.new(@gem).spec
      expect(spec.platform.to_s).to eq(Gem::Platform.local.to_s)
      expect(spec.extensions).to be_empty
      # Linked against this Ruby's minor version: it says so.
      major, minor = RUBY_VERSION.split(".").map(&:to_i)
      expect(spec.required_ruby_version).to be_satisfied_by(Gem::Version.new(RUBY_VERSION))
      expect(spec.required_ruby_version).not_to be_satisfied_by(Gem::Version.new("#{major}.#{minor + 1}.0"))
    end

    it "installs with gem install --local, with no Rust toolchain on PATH" do
      expect(Packaging::PATH_WITHOUT_RUST.split(":")).to all(satisfy { |dir| !File.exist?(File.join(dir, "cargo")) })
      expect(@install).to be_success, @install.to_s
      expect(@install.stdout).to match(/Successfully installed tasker-core-rb-[\d.]+-#{Regexp.escape(Gem::Platform.local.to_s)}/)
      expect(@install.stdout + @install.stderr).not_to include("Building native extensions")
    end

    include_examples "an installed gem"
  end

  describe "the source gem" do
    before(:all) do
      @gem = @gems.fetch(:source)
      @dir = Dir.mktmpdir("tasker-source-gem")
      @home = File.join(@dir, "gem_home")
      # cargo builds into the checkout's target directory (bin/setup's `rake compile` filled
      # it), so only the workspace's own crates compile again: minutes saved on every CI run.
      # TASKER_SPEC_CARGO_TARGET_DIR= (empty) builds from nothing, as a user's install does.
      target = ENV.fetch("TASKER_SPEC_CARGO_TARGET_DIR", ENV.fetch("CARGO_TARGET_DIR", File.join(Packaging::ROOT, "target")))
      @install = install(@gem, @home, env: { "CARGO_TARGET_DIR" => target.empty? ? nil : target })
    end

    after(:all) { FileUtils.rm_rf(@dir) }

    it "carries the Rust workspace: manifests, lock file, each crate's sources and migrations" do
      files = Packaging.contents(@gem)
      workspace = "ext/tasker_core/workspace"
      expect(files).to include("ext/tasker_core/extconf.rb", "#{workspace}/Cargo.toml", "#{workspace}/Cargo.lock",
                               "#{workspace}/crates/binding/src/lib.rs", "#{workspace}/crates/state/migrations/sqlite/0001_tasker_tables.sql")
      members = File.read(File.join(Packaging::ROOT, "Cargo.toml"))[/members = \[(.*?)\]/m, 1].scan(/"([^"]+)"/).flatten
      members.each { |crate| expect(files).to include("#{workspace}/#{crate}/Cargo.toml", "#{workspace}/#{crate}/src/lib.rs") }
      expect(files.grep(/\.so\z/)).to be_empty
      expect(files.grep(%r{/target/})).to be_empty
      expect(Gem::Package.new(@gem).spec.extensions).to eq(["ext/tasker_core/extconf.rb"])
    end

    it "compiles the extension from the workspace it carries, with cargo, on gem install --local" do
      expect(@install).to be_success, @install.to_s
      gem_dir = File.join(@home, "gems", File.basename(@gem, ".gem"))
      build_log = File.read(Dir.glob(File.join(@home, "extensions", "*", "*", File.basename(@gem, ".gem"), "gem_make.out")).first)
      expect(build_log).to include("from the Rust workspace at #{gem_dir}/ext/tasker_core/workspace")
      expect(File).to exist(File.join(gem_dir, "lib/tasker_core/tasker_core_ext.so"))
      expect(Dir.glob(File.join(gem_dir, "**", "target"))).to be_empty
    end

    include_examples "an installed gem"
  end
end
