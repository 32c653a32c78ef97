//! Faster 2-D convolutions for Burn's `flex` backend, as a Burn backend extension.
//!
//! `conv2d` and `conv_transpose2d` take Burn's own layers and run them through the im2col + GEMM
//! kernels of [`super::conv_cpu`] on flex (with their own backward pass under autodiff); every
//! other device, and any layer the kernels do not cover (groups, non-explicit padding, other
//! float types), gets the layer's own `forward`. Upstream, the same kernels belong in
//! `burn-flex/src/ops/conv.rs` and `conv_transpose.rs`.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::{FlexTensor, Layout};
use burn::backend::ops::{ActivationOps, ModuleOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, DispatchDevice, Flex, backend_extension};
use burn::nn::conv::{Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d};
use burn::nn::{PaddingConfig1d, PaddingConfig2d};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use burn::tensor::{Bytes, DType, Shape, Tensor};

use super::conv_cpu::{self, Windows};

/// The extension: Burn's convolutions (then ReLU if `relu`) unless a backend says otherwise.
/// The bias is required (layers without one take Burn's path).
#[backend_extension(Flex, Autodiff)]
pub trait FastConv: Backend {
    fn fast_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        options: ConvOptions<2>,
        relu: bool,
    ) -> FloatTensor<Self> {
        let y = Self::conv2d(x, weight, Some(bias), options);
        if relu { Self::relu(y) } else { y }
    }

    fn fast_conv_transpose2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        options: ConvTransposeOptions<2>,
        relu: bool,
    ) -> FloatTensor<Self> {
        let y = Self::conv_transpose2d(x, weight, Some(bias), options);
        if relu { Self::relu(y) } else { y }
    }
}

/// `layer.forward(x)` (then ReLU if `relu`), through the fast kernels on flex.
pub fn conv2d(layer: &Conv2d, x: Tensor<4>, relu: bool) -> Tensor<4> {
    let (Some(bias), PaddingConfig2d::Explicit(top, left, bottom, right), true) =
        (&layer.bias, &layer.padding, covered(&x, layer.groups))
    else {
        return burn_forward(layer.forward(x), relu);
    };
    let options = ConvOptions {
        stride: layer.stride,
        padding: [(*top, *bottom), (*left, *right)],
        dilation: layer.dilation,
        groups: 1,
    };
    Tensor::from_dispatch(<Dispatch as FastConv>::fast_conv2d(
        x.into_dispatch(),
        layer.weight.val().into_dispatch(),
        bias.val().into_dispatch(),
        options,
        relu,
    ))
}

/// `layer.forward(x)` (then ReLU if `relu`), through the fast kernels on flex.
pub fn conv_transpose2d(layer: &ConvTranspose2d, x: Tensor<4>, relu: bool) -> Tensor<4> {
    let (Some(bias), true) = (&layer.bias, covered(&x, layer.groups)) else {
        return burn_forward(layer.forward(x), relu);
    };
    let options = ConvTransposeOptions {
        stride: layer.stride,
        padding: layer.padding,
        padding_out: layer.padding_out,
        dilation: layer.dilation,
        groups: 1,
    };
    Tensor::from_dispatch(<Dispatch as FastConv>::fast_conv_transpose2d(
        x.into_dispatch(),
        layer.weight.val().into_dispatch(),
        bias.val().into_dispatch(),
        options,
        relu,
    ))
}

/// `layer.forward(x)` (then ReLU if `relu`) for a 1-D convolution, run on flex as a 2-D one of
/// height 1.
pub fn conv1d(layer: &Conv1d, x: Tensor<3>, relu: bool) -> Tensor<3> {
    let (Some(bias), PaddingConfig1d::Explicit(left, right), true) =
        (&layer.bias, &layer.padding, covered(&x, layer.groups))
    else {
        return burn_forward(layer.forward(x), relu);
    };
    let [n, c, len] = x.dims();
    let [o, _, k] = layer.weight.dims();
    let options = ConvOptions {
        stride: [1, layer.stride],
        padding: [(0, 0), (*left, *right)],
        dilation: [1, layer.dilation],
        groups: 1,
    };
    let y: Tensor<4> = Tensor::from_dispatch(<Dispatch as FastConv>::fast_conv2d(
        x.reshape([n, c, 1, len]).into_dispatch(),
        layer.weight.val().reshape([o, c, 1, k]).into_dispatch(),
        bias.val().into_dispatch(),
        options,
        relu,
    ));
    let [_, _, _, out] = y.dims();
    y.reshape([n, o, out])
}

/// `layer.forward(x)` (then ReLU if `relu`) for a 1-D transposed convolution, run on flex as a
/// 2-D one of height 1.
pub fn conv_transpose1d(layer: &ConvTranspose1d, x: Tensor<3>, relu: bool) -> Tensor<3> {
    let (Some(bias), true) = (&layer.bias, covered(&x, layer.groups)) else {
        return burn_forward(layer.forward(x), relu);
    };
    let [n, c, len] = x.dims();
    let [_, o, k] = layer.weight.dims();
    let options = ConvTransposeOptions {
        stride: [1, layer.stride],
        padding: [0, layer.padding],
        padding_out: [0, layer.padding_out],
        dilation: [1, layer.dilation],
        groups: 1,
    };
    let y: Tensor<4> = Tensor::from_dispatch(<Dispatch as FastConv>::fast_conv_transpose2d(
        x.reshape([n, c, 1, len]).into_dispatch(),
        layer.weight.val().reshape([c, o, 1, k]).into_dispatch(),
        bias.val().into_dispatch(),
        options,
        relu,
    ));
    let [_, _, _, out] = y.dims();
    y.reshape([n, o, out])
}

/// Burn's path: the layer's own output, then its ReLU if asked.
fn burn_forward<const D: usize>(y: Tensor<D>, relu: bool) -> Tensor<D> {
    if relu {
        burn::tensor::activation::relu(y)
    } else {
        y
    }
}

/// Whether the kernels cover this input and layer: f32 on flex, no groups.
fn covered<const D: usize>(x: &Tensor<D>, groups: usize) -> bool {
    matches!(x.device().inner().as_dispatch(), DispatchDevice::Flex(_))
        && x.dtype() == DType::F32
        && groups == 1
}

/// The windows of a convolution over `x` (`[n, c, h, w]`) with `weight` (`[o, c, kh, kw]`).
fn conv_windows(x: &Shape, weight: &Shape, options: &ConvOptions<2>) -> Windows {
    let [_, c, h, w] = x.dims();
    let [_, _, kh, kw] = weight.dims();
    let size = |len: usize, (before, after): (usize, usize), k: usize, i: usize| {
        (len + before + after - options.dilation[i] * (k - 1) - 1) / options.stride[i] + 1
    };
    Windows {
        channels: c,
        image: [h, w],
        kernel: [kh, kw],
        stride: options.stride,
        padding: [options.padding[0].0, options.padding[1].0],
        dilation: options.dilation,
        out: [
            size(h, options.padding[0], kh, 0),
            size(w, options.padding[1], kw, 1),
        ],
    }
}

/// The windows of a transposed convolution of `x` (`[n, c_in, h, w]`) with `weight`
/// (`[c_in, c_out, kh, kw]`): the image is the output, the window positions the input pixels.
fn transposed_windows(x: &Shape, weight: &Shape, options: &ConvTransposeOptions<2>) -> Windows {
    let [_, _, h, w] = x.dims();
    let [_, c_out, kh, kw] = weight.dims();
    let size = |len: usize, k: usize, i: usize| {
        (len - 1) * options.stride[i] + options.dilation[i] * (k - 1) + options.padding_out[i] + 1
            - 2 * options.padding[i]
    };
    Windows {
        channels: c_out,
        image: [size(h, kh, 0), size(w, kw, 1)],
        kernel: [kh, kw],
        stride: options.stride,
        padding: options.padding,
        dilation: options.dilation,
        out: [h, w],
    }
}

/// A contiguous f32 view of a flex tensor (copied only if it is strided or offset).
pub(super) fn values(t: &FlexTensor) -> FlexTensor {
    contiguous(t.clone())
}

/// [`values`] of a tensor the caller gives up: the same buffer when it is already laid out
/// plainly, so that [`owned`] can still find it unshared.
fn contiguous(t: FlexTensor) -> FlexTensor {
    if t.is_contiguous() && t.layout().start_offset() == 0 {
        t
    } else {
        t.to_contiguous()
    }
}

/// The tensor itself when nothing else reads its buffer, else a copy to write into. For
/// contiguous f32 tensors that start at offset 0.
pub(super) fn owned(t: FlexTensor) -> FlexTensor {
    if t.is_unique() {
        return t;
    }
    tensor(floats(&t).to_vec(), t.layout().shape().clone())
}

/// The gradient through a ReLU whose output was `output`: zero where the output was not
/// positive. Written into the gradient's own buffer when nothing else reads it (the usual case:
/// autodiff hands each gradient over once), which spares a copy of every activation's gradient.
pub(super) fn masked(grad: FlexTensor, output: &FlexTensor) -> FlexTensor {
    let mut grad = owned(contiguous(grad));
    let n = grad.layout().num_elements();
    conv_cpu::relu_backward(&mut grad.storage_mut::<f32>()[..n], floats(&values(output)));
    grad
}

pub(super) fn floats(t: &FlexTensor) -> &[f32] {
    &t.storage::<f32>()[..t.layout().num_elements()]
}

pub(super) fn tensor(values: Vec<f32>, shape: Shape) -> FlexTensor {
    FlexTensor::new(
        Bytes::from_elems(values),
        Layout::contiguous(shape),
        DType::F32,
    )
}

fn all_f32(tensors: &[&FlexTensor]) -> bool {
    tensors.iter().all(|t| t.dtype() == DType::F32)
}

impl FastConv for Flex {
    fn fast_conv2d(
        x: FlexTensor,
        weight: FlexTensor,
        bias: FlexTensor,
        options: ConvOptions<2>,
        relu: bool,
    ) -> FlexTensor {
        if !all_f32(&[&x, &weight, &bias]) || options.groups != 1 {
            let y = Flex::conv2d(x, weight, Some(bias), options);
            return if relu { Flex::relu(y) } else { y };
        }
        let win = conv_windows(x.layout().shape(), weight.layout().shape(), &options);
        let (x, weight, bias) = (values(&x), values(&weight), values(&bias));
        let out = conv_cpu::conv2d(floats(&x), floats(&weight), floats(&bias), &win, relu);
        let n = x.layout().shape()[0];
        tensor(
            out,
            Shape::new([n, bias.layout().num_elements(), win.out[0], win.out[1]]),
        )
    }

    fn fast_conv_transpose2d(
        x: FlexTensor,
        weight: FlexTensor,
        bias: FlexTensor,
        options: ConvTransposeOptions<2>,
        relu: bool,
    ) -> FlexTensor {
        if !all_f32(&[&x, &weight, &bias]) || options.groups != 1 {
            let y = Flex::conv_transpose2d(x, weight, Some(bias), options);
            return if relu { Flex::relu(y) } else { y };
        }
        let win = transposed_windows(x.layout().shape(), weight.layout().shape(), &options);
        let (x, weight, bias) = (values(&x), values(&weight), values(&bias));
        let out =
            conv_cpu::conv_transpose2d(floats(&x), floats(&weight), floats(&bias), &win, relu);
        let n = x.layout().shape()[0];
        tensor(
            out,
            Shape::new([n, win.channels, win.image[0], win.image[1]]),
        )
    }
}

/// Which convolution a backward step belongs to, with its options.
#[derive(Clone, Debug)]
enum Kind {
    Conv(ConvOptions<2>),
    Transposed(ConvTransposeOptions<2>),
}

/// The backward step of either convolution: parents are (input, weight, bias).
#[derive(Debug)]
struct ConvBackward;

impl Backward<Flex, 3> for ConvBackward {
    /// Input and weight as they were in the forward pass, and the output if a ReLU was fused.
    type State = (FlexTensor, FlexTensor, Kind, Option<FlexTensor>);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_weight, node_bias] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (x, weight, kind, relu_output) = ops.state;
        let (x_shape, w_shape) = (x.layout().shape().clone(), weight.layout().shape().clone());
        let (x, weight) = (values(&x), values(&weight));
        let grad = match relu_output {
            Some(output) => masked(grad, &output),
            None => values(&grad),
        };
        let need_x = node_x.is_some();
        let (gx, gw, gb) = match &kind {
            Kind::Conv(options) => conv_cpu::conv2d_backward(
                floats(&x),
                floats(&weight),
                floats(&grad),
                &conv_windows(&x_shape, &w_shape, options),
                need_x,
            ),
            Kind::Transposed(options) => conv_cpu::conv_transpose2d_backward(
                floats(&x),
                floats(&weight),
                floats(&grad),
                &transposed_windows(&x_shape, &w_shape, options),
                need_x,
            ),
        };
        if let (Some(node), Some(gx)) = (node_x, gx) {
            grads.register::<Flex>(node.id, tensor(gx, x_shape));
        }
        if let Some(node) = node_weight {
            grads.register::<Flex>(node.id, tensor(gw, w_shape));
        }
        if let Some(node) = node_bias {
            let len = gb.len();
            grads.register::<Flex>(node.id, tensor(gb, Shape::new([len])));
        }
    }
}

impl<C: CheckpointStrategy> FastConv for Autodiff<Flex, C> {
    fn fast_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        options: ConvOptions<2>,
        relu: bool,
    ) -> FloatTensor<Self> {
        let kind = Kind::Conv(options.clone());
        tracked::<C>(x, weight, bias, kind, relu, |x, w, b| {
            Flex::fast_conv2d(x, w, b, options, relu)
        })
    }

    fn fast_conv_transpose2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        options: ConvTransposeOptions<2>,
        relu: bool,
    ) -> FloatTensor<Self> {
        let kind = Kind::Transposed(options.clone());
        tracked::<C>(x, weight, bias, kind, relu, |x, w, b| {
            Flex::fast_conv_transpose2d(x, w, b, options, relu)
        })
    }
}

/// Runs `forward` on the inner tensors and records `ConvBackward` when a gradient is wanted,
/// keeping the input and weight (not a recomputation) for it, and the output for a fused ReLU.
fn tracked<C: CheckpointStrategy>(
    x: FloatTensor<Autodiff<Flex, C>>,
    weight: FloatTensor<Autodiff<Flex, C>>,
    bias: FloatTensor<Autodiff<Flex, C>>,
    kind: Kind,
    relu: bool,
    forward: impl FnOnce(FlexTensor, FlexTensor, FlexTensor) -> FlexTensor,
) -> FloatTensor<Autodiff<Flex, C>> {
    let (x, x_node) = x.into_parts();
    let (weight, weight_node) = weight.into_parts();
    let (bias, bias_node) = bias.into_parts();
    match ConvBackward
        .prepare::<C>([x_node, weight_node, bias_node])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let output = forward(x.clone(), weight.clone(), bias);
            let kept = relu.then(|| output.clone());
            prep.finish((x, weight, kind, kept), output)
        }
        OpsKind::UnTracked(prep) => prep.finish(forward(x, weight, bias)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::conv::{
        Conv1dConfig, Conv2dConfig, ConvTranspose1dConfig, ConvTranspose2dConfig,
    };
    use burn::tensor::{Device, Distribution};

    /// Largest absolute difference, relative to the largest magnitude in `b`.
    fn relative_gap<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
        let scale = b.clone().abs().max().into_scalar::<f32>().max(1e-6);
        (a - b).abs().max().into_scalar::<f32>() / scale
    }

    /// Ours and Burn's agree on the output and on the gradients of input, weight and bias.
    fn agree<const D: usize>(
        ours: impl Fn(Tensor<D>) -> Tensor<D>,
        burn: impl Fn(Tensor<D>) -> Tensor<D>,
        weight: Tensor<D>,
        bias: Tensor<1>,
        input: [usize; D],
        device: &Device,
    ) {
        let x = Tensor::<D>::random(input, Distribution::Normal(0.0, 1.0), device).require_grad();
        let (a, b) = (ours(x.clone()), burn(x.clone()));
        assert_eq!(a.dims(), b.dims(), "output shape for input {input:?}");
        let gap = relative_gap(a.clone().inner(), b.clone().inner());
        assert!(gap < 1e-5, "output differs by {gap} for input {input:?}");
        let mix = Tensor::<D>::random(a.dims(), Distribution::Normal(0.0, 1.0), device);
        let (ga, gb) = (
            (a * mix.clone()).sum().backward(),
            (b * mix).sum().backward(),
        );
        let gaps = [
            relative_gap(x.grad(&ga).unwrap(), x.grad(&gb).unwrap()),
            relative_gap(weight.grad(&ga).unwrap(), weight.grad(&gb).unwrap()),
        ];
        let bias_gap = relative_gap(bias.grad(&ga).unwrap(), bias.grad(&gb).unwrap());
        assert!(
            gaps.iter().chain([&bias_gap]).all(|&g| g < 1e-5),
            "gradients (input, weight, bias) differ by {gaps:?} {bias_gap} for {input:?}"
        );
    }

    /// (c_in, c_out, kernel, stride, padding, dilation, image size)
    type Case = (usize, usize, usize, usize, usize, usize, [usize; 2]);
    /// Strided rows both short (unrolled through a table of positions) and long (row by row).
    const CASES: [Case; 6] = [
        (1, 4, 3, 2, 1, 1, [5, 7]),
        (2, 3, 3, 2, 1, 1, [3, 40]),
        (3, 5, 3, 1, 1, 1, [6, 6]),
        (2, 3, 5, 2, 2, 1, [9, 8]),
        (2, 2, 3, 1, 0, 2, [7, 7]),
        (4, 6, 1, 1, 0, 1, [3, 4]),
    ];

    /// Every case, without and with the fused ReLU.
    fn cases() -> impl Iterator<Item = (Case, bool)> {
        CASES
            .into_iter()
            .flat_map(|case| [(case, false), (case, true)])
    }

    #[test]
    fn conv2d_matches_burn_with_gradients() {
        let device = Device::flex().autodiff();
        for ((c_in, c_out, k, stride, pad, dilation, [h, w]), relu) in cases() {
            let layer = Conv2dConfig::new([c_in, c_out], [k, k])
                .with_stride([stride, stride])
                .with_dilation([dilation, dilation])
                .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
                .init(&device);
            agree(
                |x| conv2d(&layer, x, relu),
                |x| burn_forward(layer.forward(x), relu),
                layer.weight.val(),
                layer.bias.as_ref().unwrap().val(),
                [3, c_in, h, w],
                &device,
            );
        }
    }

    #[test]
    fn conv_transpose2d_matches_burn_with_gradients() {
        let device = Device::flex().autodiff();
        for ((c_in, c_out, k, stride, pad, dilation, [h, w]), relu) in cases() {
            let layer = ConvTranspose2dConfig::new([c_in, c_out], [k, k])
                .with_stride([stride, stride])
                .with_dilation([dilation, dilation])
                .with_padding([pad, pad])
                .with_padding_out([stride - 1, 0])
                .init(&device);
            agree(
                |x| conv_transpose2d(&layer, x, relu),
                |x| burn_forward(layer.forward(x), relu),
                layer.weight.val(),
                layer.bias.as_ref().unwrap().val(),
                [3, c_in, h, w],
                &device,
            );
        }
    }

    #[test]
    fn conv1d_and_its_transpose_match_burn_with_gradients() {
        let device = Device::flex().autodiff();
        for ((c_in, c_out, k, stride, pad, dilation, [_, len]), relu) in cases() {
            let layer = Conv1dConfig::new(c_in, c_out, k)
                .with_stride(stride)
                .with_dilation(dilation)
                .with_padding(PaddingConfig1d::Explicit(pad, pad))
                .init(&device);
            agree(
                |x| conv1d(&layer, x, relu),
                |x| burn_forward(layer.forward(x), relu),
                layer.weight.val(),
                layer.bias.as_ref().unwrap().val(),
                [3, c_in, len],
                &device,
            );
            let layer = ConvTranspose1dConfig::new([c_in, c_out], k)
                .with_stride(stride)
                .with_dilation(dilation)
                .with_padding(pad)
                .with_padding_out(stride - 1)
                .init(&device);
            agree(
                |x| conv_transpose1d(&layer, x, relu),
                |x| burn_forward(layer.forward(x), relu),
                layer.weight.val(),
                layer.bias.as_ref().unwrap().val(),
                [3, c_in, len],
                &device,
            );
        }
    }
}
