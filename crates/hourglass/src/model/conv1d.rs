//! The 1-D convolutional autoencoder for windows of time series: stride-2 convolutions along time,
//! a dense bottleneck, and transposed convolutions back to the window's length.

use burn::module::Module;
use burn::nn::conv::{Conv1d, Conv1dConfig, ConvTranspose1d, ConvTranspose1dConfig};
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig, PaddingConfig1d};
use burn::tensor::{Device, Tensor};

use super::config::{ModelConfig, OutputActivation};
use super::layers::{self, Head};
use crate::data::SampleShape;
use crate::ops;

#[derive(Module, Debug)]
pub struct Conv1dNet {
    pub encoder_convs: Vec<Conv1d>,
    pub encoder_latent: Linear,
    pub decoder_latent: Linear,
    pub decoder_convs: Vec<ConvTranspose1d>,
    dropout: Dropout,
    #[module(skip)]
    head: Head,
    #[module(skip)]
    input: SampleShape,
    /// Channels and length of the last feature map.
    #[module(skip)]
    bottleneck: [usize; 2],
}

impl Conv1dNet {
    pub fn new(
        input: SampleShape,
        channels: &[usize],
        kernel: usize,
        config: &ModelConfig,
        device: &Device,
    ) -> Self {
        let head = Head::new(config);
        let pad = kernel / 2;
        let mut lengths = vec![input.width];
        let mut encoder_convs = Vec::new();
        let mut in_channels = input.channels;
        for &out_channels in channels {
            encoder_convs.push(
                Conv1dConfig::new(in_channels, out_channels, kernel)
                    .with_stride(2)
                    .with_padding(PaddingConfig1d::Explicit(pad, pad))
                    .init(device),
            );
            lengths.push(lengths.last().unwrap().div_ceil(2));
            in_channels = out_channels;
        }
        let length = *lengths.last().unwrap();
        let flat = in_channels * length;
        let mut decoder_convs = Vec::new();
        let mut outs: Vec<usize> = channels.iter().rev().skip(1).copied().collect();
        outs.push(input.channels);
        let mut c = in_channels;
        for (i, &out_channels) in outs.iter().enumerate() {
            let target = lengths[lengths.len() - 2 - i];
            decoder_convs.push(
                ConvTranspose1dConfig::new([c, out_channels], kernel)
                    .with_stride(2)
                    .with_padding(pad)
                    .with_padding_out(1 - target % 2)
                    .init(device),
            );
            c = out_channels;
        }
        Conv1dNet {
            encoder_convs,
            encoder_latent: LinearConfig::new(flat + head.classes, head.code_width()).init(device),
            decoder_latent: LinearConfig::new(head.latent + head.classes, flat).init(device),
            decoder_convs,
            dropout: DropoutConfig::new(config.dropout).init(),
            head,
            input,
            bottleneck: [in_channels, length],
        }
    }

    /// The code (mean) and, for a variational model, the log-variance.
    pub fn encode_distribution(
        &self,
        x: Tensor<2>,
        class: Option<Tensor<2>>,
    ) -> (Tensor<2>, Option<Tensor<2>>) {
        let [batch, _] = x.dims();
        let x: Tensor<3> = x.reshape([batch, self.input.channels, self.input.width]);
        let x = layers::conv_stack(
            &self.encoder_convs,
            x,
            &self.head,
            &self.dropout,
            false,
            ops::conv1d,
        );
        let flat = self.head.with_class(x.flatten(1, 2), class);
        self.head
            .split_code(ops::linear(&self.encoder_latent, flat, false))
    }

    /// The decoder's last pre-activations, flattened to rows.
    pub fn decode_logits(&self, z: Tensor<2>, class: Option<Tensor<2>>) -> Tensor<2> {
        let [batch, _] = z.dims();
        let [c, length] = self.bottleneck;
        let x = ops::linear(&self.decoder_latent, self.head.with_class(z, class), false);
        let x: Tensor<3> =
            layers::hidden(x, self.head.activation, &self.dropout).reshape([batch, c, length]);
        let x = layers::conv_stack(
            &self.decoder_convs,
            x,
            &self.head,
            &self.dropout,
            true,
            ops::conv_transpose1d,
        );
        x.flatten(1, 2)
    }

    pub fn output(&self) -> OutputActivation {
        self.head.output
    }

    /// The sizes and activations around the layers (what an ONNX export rebuilds).
    pub(crate) fn head(&self) -> &Head {
        &self.head
    }

    pub(crate) fn input(&self) -> SampleShape {
        self.input
    }

    /// Channels and length of the last feature map.
    pub(crate) fn bottleneck(&self) -> [usize; 2] {
        self.bottleneck
    }
}
