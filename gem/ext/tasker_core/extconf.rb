# frozen_string_literal: true

# Writes a Makefile that builds the Rust extension with cargo and installs it as
# lib/tasker_core/tasker_core_ext.so. The rb_sys gem (create_rust_makefile) is not used
# because it is not available from Debian's packages; cargo alone is enough.
#
# Which Rust workspace it builds, first found:
#   1. ext/tasker_core/workspace/ — the copy the source gem carries (rake gem:source), so
#      `gem install tasker-core-rb-X.gem` and Bundler build anywhere;
#   2. the checkout's root, three folders up — `gem install` run from a clone.
#
# Where cargo builds: CARGO_TARGET_DIR when it is set (kept afterwards, so a second install
# reuses the compiled dependencies); in a clone, the workspace's target/; otherwise a target/
# folder beside this file, removed once the library is copied out, so an installed gem does
# not keep a gigabyte of build products.

require "mkmf"
require "rbconfig"
require "shellwords"

carried = File.expand_path("workspace", __dir__)
checkout = File.expand_path("../../..", __dir__)
workspace = [carried, checkout].find { |dir| File.exist?(File.join(dir, "Cargo.toml")) }
unless workspace
  abort "tasker-core-rb: no Rust workspace (Cargo.toml) at #{carried} or #{checkout}. This gem was built " \
        "without its Rust sources: build it with `rake gem:source` in a clone of tasker-core"
end
cargo = ENV.fetch("CARGO", "cargo")
unless find_executable(cargo)
  abort "tasker-core-rb: cargo is required to build the extension. Install Rust (https://rustup.rs), " \
        "or install the precompiled gem for your platform"
end

own_target = ENV["CARGO_TARGET_DIR"].to_s.empty?
target_dir = if !own_target then File.expand_path(ENV.fetch("CARGO_TARGET_DIR"))
             elsif workspace == checkout then File.join(checkout, "target")
             else File.join(__dir__, "target")
             end
# Remove the build only when it is this install's own scratch folder.
remove_target = own_target && workspace == carried

cdylib = RbConfig::CONFIG["host_os"].match?(/darwin/) ? "libtasker_core_ext.dylib" : "libtasker_core_ext.so"
built = File.join(target_dir, "release", cdylib)
installed = File.join(File.expand_path("../../lib/tasker_core", __dir__), "tasker_core_ext.#{RbConfig::CONFIG['DLEXT']}")
# The carried workspace builds exactly the dependency versions its Cargo.lock names.
locked = workspace == carried ? " --locked" : ""
# rb-sys reads RUBY to learn which Ruby it builds for: the one running this install.
env = "RUBY=#{Shellwords.escape(RbConfig.ruby)} CARGO_TARGET_DIR=#{Shellwords.escape(target_dir)}"
# RubyGems sets SOURCE_DATE_EPOCH to the install's start time for the build; the C build
# scripts (SQLite, mimalloc) rerun when it changes. With a shared CARGO_TARGET_DIR, whose
# point is reusing an earlier build, drop the made-up timestamp so that reuse happens.
env = "env -u SOURCE_DATE_EPOCH #{env}" unless own_target

puts "tasker-core-rb: building the extension from the Rust workspace at #{workspace} (cargo target #{target_dir})"
recipe = [
  "cd #{Shellwords.escape(workspace)} && #{env} #{Shellwords.escape(cargo)} build --release#{locked} -p tasker-core-ext",
  "cp #{Shellwords.escape(built)} #{Shellwords.escape(installed)}.tmp",
  "mv #{Shellwords.escape(installed)}.tmp #{Shellwords.escape(installed)}",
  ("rm -rf #{Shellwords.escape(target_dir)}" if remove_target),
  "touch tasker_core_ext.stamp"
].compact

# `gem install` runs `make clean`, `make`, `make install`: the stamp keeps `install` from
# building a second time (after the scratch target/ is gone).
File.write("Makefile", <<~MAKE)
  all: tasker_core_ext.stamp

  tasker_core_ext.stamp:
  #{recipe.map { |line| "\t#{line}" }.join("\n")}

  install: all

  clean:
  \trm -f #{Shellwords.escape(installed)} tasker_core_ext.stamp

  .PHONY: all install clean
MAKE
