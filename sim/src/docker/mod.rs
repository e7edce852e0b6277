//! Docker Engine API emulator (API 1.41 over a unix socket).
