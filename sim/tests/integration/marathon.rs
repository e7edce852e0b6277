//! Marathon/Mesos emulator contract tests.
