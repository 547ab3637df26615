//! The 2-layer MLP (Linear, GELU, Linear) from vision channels to the language-model width.

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::gelu;

use crate::config::ProjectorConfig;
use crate::linear::forward as linear;

#[derive(Module, Debug)]
pub struct Projector<B: Backend> {
    pub fc1: Linear<B>,
    pub fc2: Linear<B>,
}

impl ProjectorConfig {
    pub fn init<B: Backend>(&self, device: &B::Device) -> Projector<B> {
        Projector {
            fc1: LinearConfig::new(self.d_input, self.d_output).init(device),
            fc2: LinearConfig::new(self.d_output, self.d_output).init(device),
        }
    }
}

impl<B: Backend> Projector<B> {
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        linear(&self.fc2, gelu(linear(&self.fc1, x)))
    }
}
