//! Docker emulator contract tests.
