//! Tensor operations Burn runs slowly on the CPU, added as Burn backend extensions so the model
//! code calls one function on every device: the fast path on `flex` (with its own backward pass
//! under autodiff), Burn's own operation everywhere else.

pub mod adam;
pub mod conv;
pub(crate) mod conv_cpu;
pub mod dense_stack;
pub mod linear;
pub mod sigmoid;
pub mod squared_error;

pub use conv::{conv_transpose1d, conv_transpose2d, conv1d, conv2d};
pub use dense_stack::dense_stack;
pub use linear::linear;
pub use sigmoid::sigmoid;
pub use squared_error::{mean_squared_error, sigmoid_mean_squared_error};
