# frozen_string_literal: true

# Writes a Makefile that builds the Rust extension with cargo and installs it as
# lib/tasker_core/tasker_core_ext.so. The rb_sys gem (create_rust_makefile) is not used
# because it is not available from Debian's packages; cargo alone is enough.

require "mkmf"
require "rbconfig"

workspace = File.expand_path("../../..", __dir__)
unless File.exist?(File.join(workspace, "Cargo.toml"))
  abort "tasker-core-rb: the Rust workspace (Cargo.toml) was not found at #{workspace}; " \
        "build the gem from a checkout of the tasker-core repository"
end
cargo = ENV.fetch("CARGO", "cargo")
abort "tasker-core-rb: cargo is required to build the extension (install Rust)" unless find_executable(cargo)

dlext = RbConfig::CONFIG["DLEXT"]
built = File.join(workspace, "target", "release", "libtasker_core_ext.so")
lib_dir = File.expand_path("../../lib/tasker_core", __dir__)

File.write("Makefile", <<~MAKE)
  all:
  \tcd #{workspace} && #{cargo} build --release -p tasker-core-ext
  \tcp #{built} #{lib_dir}/tasker_core_ext.#{dlext}.tmp
  \tmv #{lib_dir}/tasker_core_ext.#{dlext}.tmp #{lib_dir}/tasker_core_ext.#{dlext}

  install: all

  clean:
  \trm -f #{lib_dir}/tasker_core_ext.#{dlext}
MAKE
