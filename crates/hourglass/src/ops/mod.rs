//! Tensor operations Burn runs slowly on the CPU, added as Burn backend extensions so the model
//! code calls one function on every device: the fast path on `flex` (with its own backward pass
//! under autodiff), Burn's own operation everywhere else.

pub mod sigmoid;

pub use sigmoid::sigmoid;
