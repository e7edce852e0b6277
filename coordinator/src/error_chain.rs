//! Re-export of the shared error-chain formatter (`galley_common::error_chain`).

pub use galley_common::error_chain::ErrorChain;
