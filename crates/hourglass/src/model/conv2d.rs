//! The convolutional autoencoder for images: stride-2 convolutions halve the image at each layer,
//! a linear layer maps the last feature map to the latent, and the decoder mirrors it all with
//! transposed convolutions whose output padding restores odd sizes exactly.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::{Device, Tensor};

use super::config::{ModelConfig, OutputActivation};
use super::layers::{self, Head};
use crate::data::SampleShape;
use crate::ops;

#[derive(Module, Debug)]
pub struct Conv2dNet {
    pub encoder_convs: Vec<Conv2d>,
    pub encoder_latent: Linear,
    pub decoder_latent: Linear,
    pub decoder_convs: Vec<ConvTranspose2d>,
    dropout: Dropout,
    #[module(skip)]
    head: Head,
    #[module(skip)]
    input: SampleShape,
    /// Channels, height, width of the last feature map (the decoder's first).
    #[module(skip)]
    bottleneck: [usize; 3],
}

impl Conv2dNet {
    /// Builds the layers. Burn's default initialisers for convolutions match PyTorch's
    /// (Kaiming-uniform, a = √5, with PyTorch's fan-in for transposed convolutions).
    pub fn new(
        input: SampleShape,
        channels: &[usize],
        kernel: usize,
        config: &ModelConfig,
        device: &Device,
    ) -> Self {
        let head = Head::new(config);
        let latent = head.latent;
        let pad = kernel / 2;
        let mut sizes = vec![(input.height, input.width)];
        let mut encoder_convs = Vec::new();
        let mut in_channels = input.channels;
        for &out_channels in channels {
            encoder_convs.push(
                Conv2dConfig::new([in_channels, out_channels], [kernel, kernel])
                    .with_stride([2, 2])
                    .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
                    .init(device),
            );
            let (h, w) = *sizes.last().unwrap();
            sizes.push((h.div_ceil(2), w.div_ceil(2)));
            in_channels = out_channels;
        }
        let (bh, bw) = *sizes.last().unwrap();
        let flat = in_channels * bh * bw;

        // Mirror: each transposed conv doubles the size; an output padding of 1 makes an even
        // target (2n) instead of an odd one (2n - 1).
        let mut decoder_convs = Vec::new();
        let mut outs: Vec<usize> = channels.iter().rev().skip(1).copied().collect();
        outs.push(input.channels);
        let mut c = in_channels;
        for (i, &out_channels) in outs.iter().enumerate() {
            let target = sizes[sizes.len() - 2 - i];
            let out_pad = [1 - target.0 % 2, 1 - target.1 % 2];
            decoder_convs.push(
                ConvTranspose2dConfig::new([c, out_channels], [kernel, kernel])
                    .with_stride([2, 2])
                    .with_padding([pad, pad])
                    .with_padding_out(out_pad)
                    .init(device),
            );
            c = out_channels;
        }

        Conv2dNet {
            encoder_convs,
            encoder_latent: LinearConfig::new(flat + head.classes, head.code_width()).init(device),
            decoder_latent: LinearConfig::new(latent + head.classes, flat).init(device),
            decoder_convs,
            dropout: DropoutConfig::new(config.dropout).init(),
            head,
            input,
            bottleneck: [in_channels, bh, bw],
        }
    }

    /// The code (mean) and, for a variational model, the log-variance.
    pub fn encode_distribution(
        &self,
        x: Tensor<2>,
        class: Option<Tensor<2>>,
    ) -> (Tensor<2>, Option<Tensor<2>>) {
        // A conditional model's class joins at the code layer, after the convolutions.
        let flat = self.head.with_class(self.feature_map(x), class);
        let raw = ops::linear(&self.encoder_latent, flat, false);
        self.head.split_code(raw)
    }

    /// The encoder's last feature map, flattened (`channels × h × w` per row): what the
    /// `features` anomaly score compares. It sees the image alone, never a conditional class.
    pub fn feature_map(&self, x: Tensor<2>) -> Tensor<2> {
        let [batch, _] = x.dims();
        let s = self.input;
        let x: Tensor<4> = x.reshape([batch, s.channels, s.height, s.width]);
        layers::conv_stack(
            &self.encoder_convs,
            x,
            &self.head,
            &self.dropout,
            false,
            ops::conv2d,
        )
        .flatten(1, 3)
    }

    /// The decoder's last pre-activations, flattened to rows.
    pub fn decode_logits(&self, z: Tensor<2>, class: Option<Tensor<2>>) -> Tensor<2> {
        let [batch, _] = z.dims();
        let [c, h, w] = self.bottleneck;
        let x = ops::linear(&self.decoder_latent, self.head.with_class(z, class), false);
        let x: Tensor<4> =
            layers::hidden(x, self.head.activation, &self.dropout).reshape([batch, c, h, w]);
        let x = layers::conv_stack(
            &self.decoder_convs,
            x,
            &self.head,
            &self.dropout,
            true,
            ops::conv_transpose2d,
        );
        x.flatten(1, 3)
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

    /// Channels, height, width of the last feature map.
    pub(crate) fn bottleneck(&self) -> [usize; 3] {
        self.bottleneck
    }
}
