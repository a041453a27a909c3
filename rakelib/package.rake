# frozen_string_literal: true

# Building the gems users install (docs/install.md):
#   rake gem:source  pkg/tasker-core-rb-VERSION.gem: the Ruby code plus a copy of the Rust
#                    workspace; `gem install` compiles it with cargo (extconf.rb).
#   rake gem:native  pkg/tasker-core-rb-VERSION-PLATFORM.gem (x86_64-linux here): the Ruby
#                    code plus the compiled extension for this Ruby minor version; installs
#                    with no Rust toolchain.
#   rake gem         both.
# The gems land in gem/pkg/, or in TASKER_GEM_DIR when it is set. Each is assembled in a
# staging folder under tmp/ from the files gem/tasker-core-rb.gemspec lists, so a gem holds
# what the gemspec says plus the one part its kind needs.

require "fileutils"
require "json"
require "rubygems/package"

GEM_SRC = File.join(ROOT, "gem")
GEMSPEC = File.join(GEM_SRC, "tasker-core-rb.gemspec")
# What each workspace crate needs to build, beside its Cargo.toml: sources, a build script,
# the SQL migrations `include_str!` reads, and the benches its [[bench]] sections name (cargo
# refuses a manifest whose bench file is missing). Tests are not needed to build. A patched
# third-party crate (vendor) keeps its licence files and the note on the patch.
CRATE_PARTS = %w[Cargo.toml build.rs src migrations benches LICENSE-MIT LICENSE-APACHE PATCHED.md].freeze
# Where the source gem carries the workspace: extconf.rb looks there first.
CARRIED_WORKSPACE = "ext/tasker_core/workspace"

# The gemspec as gem/ declares it: loaded fresh from gem/, since its file lists are globs.
def load_gemspec
  Dir.chdir(GEM_SRC) { Gem::Specification.load(GEMSPEC).dup }
end

# Copies the gemspec's files from gem/ into `stage` and builds the gem there.
# @return [String] the built gem's path in the output folder
def build_gem(spec, stage)
  out = File.expand_path(ENV.fetch("TASKER_GEM_DIR", File.join(GEM_SRC, "pkg")))
  FileUtils.mkdir_p(out)
  spec.files.each do |file|
    next if File.exist?(File.join(stage, file)) # staged already (the workspace, the extension)

    FileUtils.mkdir_p(File.dirname(File.join(stage, file)))
    FileUtils.cp(File.join(GEM_SRC, file), File.join(stage, file))
  end
  built = Dir.chdir(stage) { Gem::Package.build(spec) }
  FileUtils.mv(File.join(stage, built), File.join(out, built))
  puts "built #{File.join(out, built)}"
  File.join(out, built)
end

# Copies the workspace's manifests, lock file and the build inputs of each crate that lives
# in the repository (the members, and the [patch] crates under vendor) into `dest`.
# @return [Array<String>] the copied files, relative to `dest`
def copy_workspace(dest)
  metadata = JSON.parse(Dir.chdir(ROOT) { IO.popen(%w[cargo metadata --format-version 1 --locked], &:read) })
  raise "cargo metadata failed in #{ROOT}" unless $?.success?

  files = %w[Cargo.toml Cargo.lock]
  local = metadata.fetch("packages").select { |package| package["source"].nil? }
  local.each do |package|
    crate = File.dirname(package.fetch("manifest_path")).delete_prefix("#{ROOT}/")
    CRATE_PARTS.each do |part|
      path = File.join(ROOT, crate, part)
      next unless File.exist?(path)

      files += File.directory?(path) ? Dir.glob("#{crate}/#{part}/**/*", base: ROOT).reject { |f| File.directory?(File.join(ROOT, f)) } : ["#{crate}/#{part}"]
    end
  end
  files.each do |file|
    FileUtils.mkdir_p(File.dirname(File.join(dest, file)))
    FileUtils.cp(File.join(ROOT, file), File.join(dest, file))
  end
  files
end

namespace :gem do
  desc "Build the source gem (carries the Rust workspace; gem install compiles it with cargo)"
  task :source do
    stage = File.join(ROOT, "tmp/gem-stage/source")
    FileUtils.rm_rf(stage)
    workspace = File.join(stage, CARRIED_WORKSPACE)
    copied = copy_workspace(workspace)
    # The copy must be a whole workspace whose lock file needs no change: what cargo will
    # check again, with --locked, when the gem is installed.
    Dir.chdir(workspace) { sh "cargo metadata --locked --format-version 1 >/dev/null" }
    FileUtils.rm_rf(File.join(workspace, "target"))
    spec = load_gemspec
    spec.files = (spec.files + copied.map { |f| File.join(CARRIED_WORKSPACE, f) }).sort
    build_gem(spec, stage)
  end

  desc "Build the precompiled gem for this platform and Ruby (carries the compiled extension)"
  task native: :compile do
    stage = File.join(ROOT, "tmp/gem-stage/native")
    FileUtils.rm_rf(stage)
    so = "lib/tasker_core/#{File.basename(EXT_SO)}"
    FileUtils.mkdir_p(File.dirname(File.join(stage, so)))
    FileUtils.cp(EXT_SO, File.join(stage, so))
    # The release profile keeps line tables (debug = 1) for developers' backtraces; a gem
    # ships without them: 17 MB instead of 110.
    sh "strip", "--strip-debug", File.join(stage, so)
    spec = load_gemspec
    spec.platform = Gem::Platform.local
    # Nothing to build: extconf.rb stays out, and so does the promise of other Rubies — the
    # library is linked against this Ruby's minor version.
    spec.extensions = []
    spec.files = (spec.files.reject { |f| f.start_with?("ext/") } + [so]).sort
    ruby_minor = RUBY_VERSION[/\A\d+\.\d+/]
    spec.required_ruby_version = ["~> #{ruby_minor}.0"]
    build_gem(spec, stage)
  end
end

desc "Build both gems: the source gem and the precompiled gem for this platform"
task gem: %w[gem:source gem:native]
