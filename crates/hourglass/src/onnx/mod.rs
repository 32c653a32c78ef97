//! ONNX export: a trained model as one ONNX graph (opset 17) that takes raw rows, as hourglass
//! reads them, and gives the reconstruction, the latent code or the anomaly score, with the
//! model's stored scaling and score statistics built in, so a deployment outside hourglass
//! (onnxruntime, a browser, a database's ONNX runtime) gets the same numbers.
//!
//! The graph is written directly as protobuf (see `proto`): Burn 0.22's experimental ONNX
//! exporter records one forward pass of Burn's own ops, and hourglass runs its layers through
//! its own kernels (`crate::ops`) and computes scores outside the network.

mod graph;
mod proto;

use prost::Message;

use crate::artifact::TrainedModel;
use crate::data::Scaling;
use crate::error::{Error, Result};
use crate::model::{Activation, Network, OutputActivation};
use crate::tasks::detector::{Detector, ScoreKind, Spread};
use crate::tasks::features::NEIGHBOURS;

use burn::nn::Linear;
use graph::{Attr, Graph, float_value};

/// The operator set the graph uses: ONNX 1.12 (2022), which every current runtime reads.
pub const OPSET: i64 = 17;
/// The IR version that goes with opset 17.
const IR_VERSION: i64 = 8;

/// What the exported graph computes from a batch of raw rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// `reconstruction`: batch × features, in the data's original units.
    Reconstruct,
    /// `code`: batch × latent (a variational model's means).
    Encode,
    /// `score`: one anomaly score per row, of this kind.
    Score(ScoreKind),
}

impl Output {
    /// `reconstruct`, `encode` or `score`, with the model's default score.
    pub fn parse(name: &str, score: Option<ScoreKind>, model: &TrainedModel) -> Result<Output> {
        match name {
            "reconstruct" => Ok(Output::Reconstruct),
            "encode" => Ok(Output::Encode),
            "score" => Ok(Output::Score(score.unwrap_or(model.detector.default))),
            _ => Err(Error::invalid(format!(
                "unknown ONNX output {name:?}: give reconstruct, encode or score"
            ))),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Output::Reconstruct => "reconstruction",
            Output::Encode => "code",
            Output::Score(_) => "score",
        }
    }
}

/// The model as a serialized ONNX `ModelProto`. Conditional models are refused: their graph
/// would need the class as a second input, which no other use of an export expects.
pub fn export(model: &TrainedModel, output: Output) -> Result<Vec<u8>> {
    model.require_unconditional("ONNX export")?;
    if let Output::Score(kind) = output {
        model.detector.supports(kind)?;
    }
    let features = model.input.features();
    let latent = model.config.latent;
    let mut g = Graph::default();
    let scaled = scale(&mut g, &model.scaling, "x", features);
    let (result, dims) = match output {
        Output::Encode => (
            encode(&mut g, &model.network, &scaled),
            vec![None, Some(latent)],
        ),
        Output::Reconstruct => {
            let code = encode(&mut g, &model.network, &scaled);
            let reconstruction = decode(&mut g, &model.network, &code);
            (
                unscale(&mut g, &model.scaling, &reconstruction, features),
                vec![None, Some(features)],
            )
        }
        Output::Score(kind) => (score(&mut g, model, kind, &scaled)?, vec![None]),
    };
    g.name_output(&result, output.name());

    let shape = model.input;
    let doc = format!(
        "hourglass {} model. Input `x`: batch × {features} raw values as hourglass reads them ({}: {shape}, channel-first for images), before scaling; no missing values. Output `{}`: {}.",
        architecture_name(&model.network),
        if model.kind == crate::data::SampleKind::Image {
            "image"
        } else {
            "row"
        },
        output.name(),
        match output {
            Output::Reconstruct => "the reconstruction, in the input's units".to_string(),
            Output::Encode => format!("the {latent}-dimensional latent code"),
            Output::Score(kind) => format!("the {} score, {}", kind, model.detector.describe(kind)),
        }
    );
    let mut metadata = vec![
        entry("hourglass.output", output.name()),
        entry("hourglass.input_shape", &shape.to_string()),
    ];
    if let Output::Score(kind) = output {
        metadata.push(entry("hourglass.score", kind.name()));
    }
    if let Some(columns) = &model.columns {
        metadata.push(entry(
            "hourglass.columns",
            &serde_json::to_string(columns).expect("strings serialize"),
        ));
    }
    let model = proto::ModelProto {
        ir_version: IR_VERSION,
        producer_name: "hourglass".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: doc.clone(),
        graph: Some(g.finish(
            "hourglass",
            float_value("x", &[None, Some(features)]),
            float_value(output.name(), &dims),
            doc,
        )),
        opset_import: vec![proto::OperatorSetIdProto {
            domain: String::new(),
            version: OPSET,
        }],
        metadata_props: metadata,
    };
    Ok(model.encode_to_vec())
}

fn entry(key: &str, value: &str) -> proto::StringStringEntryProto {
    proto::StringStringEntryProto {
        key: key.into(),
        value: value.into(),
    }
}

fn architecture_name(network: &Network) -> &'static str {
    match network {
        Network::Dense(_) => "dense",
        Network::Conv2d(_) => "conv2d",
        Network::Conv1d(_) => "conv1d",
    }
}

/// Raw rows → the values the network sees (`Scaling::apply`).
fn scale(g: &mut Graph, scaling: &Scaling, x: &str, features: usize) -> String {
    match scaling {
        Scaling::Pixels { max } => {
            let max = g.floats("pixel_max", &[1], &[*max]);
            g.op("Div", &[x, &max], vec![])
        }
        Scaling::Standardize { mean, std } | Scaling::Robust { mean, std } => {
            let mean = g.floats("scaling_centre", &[1, features], mean);
            let std = g.floats("scaling_spread", &[1, features], std);
            let centred = g.op("Sub", &[x, &mean], vec![]);
            g.op("Div", &[&centred, &std], vec![])
        }
    }
}

/// Scaled rows → raw units (`Scaling::invert`).
fn unscale(g: &mut Graph, scaling: &Scaling, x: &str, features: usize) -> String {
    match scaling {
        Scaling::Pixels { max } => {
            let max = g.floats("pixel_max", &[1], &[*max]);
            g.op("Mul", &[x, &max], vec![])
        }
        Scaling::Standardize { mean, std } | Scaling::Robust { mean, std } => {
            let mean = g.floats("scaling_centre", &[1, features], mean);
            let std = g.floats("scaling_spread", &[1, features], std);
            let spread = g.op("Mul", &[x, &std], vec![]);
            g.op("Add", &[&spread, &mean], vec![])
        }
    }
}

fn activation(g: &mut Graph, activation: Activation, x: &str) -> String {
    match activation {
        Activation::Relu => g.op("Relu", &[x], vec![]),
        Activation::LeakyRelu => g.op("LeakyRelu", &[x], vec![Attr::Float("alpha", 0.01)]),
        Activation::Tanh => g.op("Tanh", &[x], vec![]),
        Activation::Sigmoid => g.op("Sigmoid", &[x], vec![]),
        // The exact GELU Burn computes: x · (1 + erf(x / √2)) / 2 (ONNX has `Gelu` from opset 20).
        Activation::Gelu => {
            let root2 = g.floats("sqrt2", &[1], &[std::f32::consts::SQRT_2]);
            let two = g.floats("two", &[1], &[2.0]);
            let one = g.floats("one", &[1], &[1.0]);
            let scaled = g.op("Div", &[x, &root2], vec![]);
            let erf = g.op("Erf", &[&scaled], vec![]);
            let gate = g.op("Add", &[&erf, &one], vec![]);
            let product = g.op("Mul", &[x, &gate], vec![]);
            g.op("Div", &[&product, &two], vec![])
        }
    }
}

/// `x · W + b` (Burn stores a linear layer's weight as inputs × outputs).
fn linear(g: &mut Graph, layer: &Linear, x: &str) -> String {
    let [inputs, outputs] = layer.weight.dims();
    let weight = crate::device::to_vec(layer.weight.val());
    let weight = g.floats("linear_weight", &[inputs, outputs], &weight);
    let product = g.op("MatMul", &[x, &weight], vec![]);
    match &layer.bias {
        Some(bias) => {
            let bias = g.floats(
                "linear_bias",
                &[outputs],
                &crate::device::to_vec(bias.val()),
            );
            g.op("Add", &[&product, &bias], vec![])
        }
        None => product,
    }
}

/// Linear layers with the hidden activation between them, none after the last.
fn dense_stack(g: &mut Graph, layers: &[Linear], hidden: Activation, mut x: String) -> String {
    for (i, layer) in layers.iter().enumerate() {
        x = linear(g, layer, &x);
        if i + 1 < layers.len() {
            x = activation(g, hidden, &x);
        }
    }
    x
}

/// A convolution's attributes: kernel, stride, symmetric padding and (transposed) output padding.
fn conv_attrs(kernel: &[usize], stride: &[usize], pad: &[usize]) -> Vec<Attr> {
    let ints = |v: &[usize]| v.iter().map(|&n| n as i64).collect::<Vec<i64>>();
    vec![
        Attr::Ints("kernel_shape", ints(kernel)),
        Attr::Ints("strides", ints(stride)),
        // Begins then ends, as ONNX lists them.
        Attr::Ints("pads", ints(&[pad, pad].concat())),
    ]
}

fn conv(
    g: &mut Graph,
    op: &str,
    weight: (Vec<usize>, Vec<f32>),
    bias: Option<Vec<f32>>,
    x: &str,
    attrs: Vec<Attr>,
) -> String {
    let (dims, values) = weight;
    let weight = g.floats("conv_weight", &dims, &values);
    let mut inputs = vec![x.to_string(), weight];
    if let Some(bias) = bias {
        inputs.push(g.floats("conv_bias", &[bias.len()], &bias));
    }
    let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    g.op(op, &inputs, attrs)
}

/// Scaled rows → the conv2d encoder's last feature map, flattened (`Conv2dNet::feature_map`).
fn conv2d_feature_map(g: &mut Graph, net: &crate::model::Conv2dNet, x: &str) -> String {
    let s = net.input();
    let shape = [-1, s.channels as i64, s.height as i64, s.width as i64];
    let layers = net.encoder_convs.iter().map(|layer| {
        let pad = layer_pad(layer.kernel_size[0]);
        let attrs = conv_attrs(&layer.kernel_size, &layer.stride, &[pad, pad]);
        (weight_of(&layer.weight), bias_of(&layer.bias), attrs)
    });
    conv_encoder(g, x, &shape, layers, net.head().activation)
}

/// Rows reshaped to `shape`, through convolutions (weight, bias, attributes) each followed by
/// the activation, flattened back to rows: the conv encoders' shared front.
fn conv_encoder(
    g: &mut Graph,
    x: &str,
    shape: &[i64],
    layers: impl Iterator<Item = ((Vec<usize>, Vec<f32>), Option<Vec<f32>>, Vec<Attr>)>,
    act: Activation,
) -> String {
    let shape = g.ints("shape", shape);
    let mut x = g.op("Reshape", &[x, &shape], vec![]);
    for (weight, bias, attrs) in layers {
        x = conv(g, "Conv", weight, bias, &x, attrs);
        x = activation(g, act, &x);
    }
    g.op("Flatten", &[&x], vec![Attr::Int("axis", 1)])
}

/// Scaled rows → the code (`Network::encode`).
fn encode(g: &mut Graph, network: &Network, x: &str) -> String {
    let (raw, head) = match network {
        Network::Dense(net) => (
            dense_stack(g, &net.encoder, net.head().activation, x.to_string()),
            net.head(),
        ),
        Network::Conv2d(net) => {
            let flat = conv2d_feature_map(g, net, x);
            (linear(g, &net.encoder_latent, &flat), net.head())
        }
        Network::Conv1d(net) => {
            let s = net.input();
            let head = net.head();
            let shape = [-1, s.channels as i64, s.width as i64];
            let layers = net.encoder_convs.iter().map(|layer| {
                let pad = layer_pad(layer.kernel_size);
                let attrs = conv_attrs(&[layer.kernel_size], &[layer.stride], &[pad]);
                (weight_of(&layer.weight), bias_of(&layer.bias), attrs)
            });
            let flat = conv_encoder(g, x, &shape, layers, head.activation);
            (linear(g, &net.encoder_latent, &flat), head)
        }
    };
    // `Head::split_code`: a variational model's code is its mean, the first half.
    if head.variational {
        let starts = g.ints("starts", &[0]);
        let ends = g.ints("ends", &[head.latent as i64]);
        let axes = g.ints("axes", &[1]);
        return g.op("Slice", &[&raw, &starts, &ends, &axes], vec![]);
    }
    match head.code_activation {
        Some(code) => activation(g, code, &raw),
        None => raw,
    }
}

/// Codes → scaled reconstructions (`Network::decode`).
fn decode(g: &mut Graph, network: &Network, z: &str) -> String {
    let (logits, output) = match network {
        Network::Dense(net) => (
            dense_stack(g, &net.decoder, net.head().activation, z.to_string()),
            net.output(),
        ),
        Network::Conv2d(net) => {
            let head = net.head();
            let [c, h, w] = net.bottleneck();
            let x = linear(g, &net.decoder_latent, z);
            let x = activation(g, head.activation, &x);
            let shape = g.ints("shape", &[-1, c as i64, h as i64, w as i64]);
            let mut x = g.op("Reshape", &[&x, &shape], vec![]);
            let last = net.decoder_convs.len() - 1;
            for (i, layer) in net.decoder_convs.iter().enumerate() {
                let mut attrs = conv_attrs(&layer.kernel_size, &layer.stride, &layer.padding);
                let out_pad = layer.padding_out.iter().map(|&p| p as i64).collect();
                attrs.push(Attr::Ints("output_padding", out_pad));
                x = conv(
                    g,
                    "ConvTranspose",
                    weight_of(&layer.weight),
                    bias_of(&layer.bias),
                    &x,
                    attrs,
                );
                if i < last {
                    x = activation(g, head.activation, &x);
                }
            }
            (
                g.op("Flatten", &[&x], vec![Attr::Int("axis", 1)]),
                net.output(),
            )
        }
        Network::Conv1d(net) => {
            let head = net.head();
            let [c, length] = net.bottleneck();
            let x = linear(g, &net.decoder_latent, z);
            let x = activation(g, head.activation, &x);
            let shape = g.ints("shape", &[-1, c as i64, length as i64]);
            let mut x = g.op("Reshape", &[&x, &shape], vec![]);
            let last = net.decoder_convs.len() - 1;
            for (i, layer) in net.decoder_convs.iter().enumerate() {
                let mut attrs = conv_attrs(&[layer.kernel_size], &[layer.stride], &[layer.padding]);
                attrs.push(Attr::Ints("output_padding", vec![layer.padding_out as i64]));
                x = conv(
                    g,
                    "ConvTranspose",
                    weight_of(&layer.weight),
                    bias_of(&layer.bias),
                    &x,
                    attrs,
                );
                if i < last {
                    x = activation(g, head.activation, &x);
                }
            }
            (
                g.op("Flatten", &[&x], vec![Attr::Int("axis", 1)]),
                net.output(),
            )
        }
    };
    match output {
        OutputActivation::Sigmoid => g.op("Sigmoid", &[&logits], vec![]),
        OutputActivation::Identity | OutputActivation::Auto => logits,
    }
}

/// The padding every hourglass convolution uses: half the kernel, each side.
fn layer_pad(kernel: usize) -> usize {
    kernel / 2
}

fn weight_of<const D: usize>(
    weight: &burn::module::Param<burn::tensor::Tensor<D>>,
) -> (Vec<usize>, Vec<f32>) {
    (weight.dims().to_vec(), crate::device::to_vec(weight.val()))
}

fn bias_of(bias: &Option<burn::module::Param<burn::tensor::Tensor<1>>>) -> Option<Vec<f32>> {
    bias.as_ref().map(|b| crate::device::to_vec(b.val()))
}

/// Scaled rows → the anomaly score of `kind` (`Detector::scores`): each network's raw score;
/// an ensemble's standardised by each network's training spread and averaged.
fn score(g: &mut Graph, model: &TrainedModel, kind: ScoreKind, x: &str) -> Result<String> {
    let networks: Vec<(&Network, &Detector)> = std::iter::once((&model.network, &model.detector))
        .chain(model.members.iter().zip(&model.detector.members))
        .collect();
    let mut raws = Vec::new();
    for (network, detector) in &networks {
        raws.push(raw_score(g, network, detector, kind, x)?);
    }
    if raws.len() == 1 {
        return Ok(raws.remove(0));
    }
    let mut total: Option<String> = None;
    for (raw, spreads) in raws.iter().zip(&model.detector.ensemble_spreads) {
        let spread = spreads.get(&kind).copied().unwrap_or(Spread {
            median: 0.0,
            scale: 1.0,
        });
        let standardised = standardise(g, raw, spread);
        total = Some(match total {
            None => standardised,
            Some(t) => g.op("Add", &[&t, &standardised], vec![]),
        });
    }
    let count = g.floats("networks", &[1], &[raws.len() as f32]);
    Ok(g.op(
        "Div",
        &[&total.expect("an ensemble has networks"), &count],
        vec![],
    ))
}

fn standardise(g: &mut Graph, score: &str, spread: Spread) -> String {
    let median = g.floats("median", &[1], &[spread.median]);
    let scale = g.floats("spread", &[1], &[spread.scale]);
    let centred = g.op("Sub", &[score, &median], vec![]);
    g.op("Div", &[&centred, &scale], vec![])
}

/// The mean over axis 1, that axis dropped (a batch of rows → one value per row).
fn row_mean(g: &mut Graph, x: &str) -> String {
    g.op(
        "ReduceMean",
        &[x],
        vec![Attr::Ints("axes", vec![1]), Attr::Int("keepdims", 0)],
    )
}

/// One network's raw score of `kind` (`Detector::raw`).
fn raw_score(
    g: &mut Graph,
    network: &Network,
    detector: &Detector,
    kind: ScoreKind,
    x: &str,
) -> Result<String> {
    if kind == ScoreKind::Features {
        return feature_distance(g, network, detector, x);
    }
    let code = encode(g, network, x);
    let needs_reconstruction = matches!(
        kind,
        ScoreKind::Mse | ScoreKind::Normalized | ScoreKind::Combined
    );
    let errors = if needs_reconstruction {
        let reconstruction = decode(g, network, &code);
        let difference = g.op("Sub", &[x, &reconstruction], vec![]);
        Some(g.op("Mul", &[&difference, &difference], vec![]))
    } else {
        None
    };
    let normalized = |g: &mut Graph, errors: &str| {
        let d = detector.feature_error.len();
        let typical = g.floats("feature_error", &[1, d], &detector.feature_error);
        let relative = g.op("Div", &[errors, &typical], vec![]);
        row_mean(g, &relative)
    };
    Ok(match kind {
        ScoreKind::Mse => row_mean(g, errors.as_deref().expect("reconstructed")),
        ScoreKind::Normalized => normalized(g, errors.as_deref().expect("reconstructed")),
        ScoreKind::Mahalanobis => {
            let k = detector.latent_mean.len();
            let mean = g.floats("latent_mean", &[1, k], &detector.latent_mean);
            let precision = g.floats("latent_precision", &[k, k], &detector.latent_precision);
            let centred = g.op("Sub", &[&code, &mean], vec![]);
            let projected = g.op("MatMul", &[&centred, &precision], vec![]);
            let terms = g.op("Mul", &[&projected, &centred], vec![]);
            row_mean(g, &terms)
        }
        ScoreKind::Knn => knn(g, detector, &code)?,
        ScoreKind::Combined => {
            let normalized = normalized(g, errors.as_deref().expect("reconstructed"));
            let knn = knn(g, detector, &code)?;
            let a = standardise(g, &normalized, detector.normalized_spread);
            let b = standardise(g, &knn, detector.knn_spread);
            g.op("Add", &[&a, &b], vec![])
        }
        ScoreKind::Features => unreachable!("returned above"),
    })
}

/// The `features` score (`FeatureIndex::distances`): the feature map projected on the kept PCA
/// directions, then the mean distance to the nearest reference maps. Unlike [`knn`] the squared
/// distances are expanded, ‖q‖² − 2 q·r + ‖r‖², so that memory is batch × references rather
/// than batch × references × directions (6 MB a row for 6,000 images and 256 directions); the
/// distances here are far from zero, where the expansion's rounding does not matter.
fn feature_distance(
    g: &mut Graph,
    network: &Network,
    detector: &Detector,
    x: &str,
) -> Result<String> {
    let (Network::Conv2d(net), Some(index)) = (network, detector.features.as_ref()) else {
        return Err(Error::invalid(
            "this model keeps no feature maps, so its features score cannot be exported",
        ));
    };
    let (w, k) = (index.projection.features, index.k());
    let m = index.reference.len() / k.max(1);
    let maps = conv2d_feature_map(g, net, x);
    let mean = g.floats("feature_mean", &[1, w], &index.projection.mean);
    let centred = g.op("Sub", &[&maps, &mean], vec![]);
    let mut directions = vec![0.0f32; w * k];
    for (j, row) in index.projection.components.chunks_exact(w).enumerate() {
        for (i, v) in row.iter().enumerate() {
            directions[i * k + j] = *v;
        }
    }
    let directions = g.floats("feature_directions", &[w, k], &directions);
    let q = g.op("MatMul", &[&centred, &directions], vec![]);
    let mut reference_t = vec![0.0f32; k * m];
    let mut reference_norms = vec![0.0f32; m];
    for (r, row) in index.reference.chunks_exact(k).enumerate() {
        for (j, v) in row.iter().enumerate() {
            reference_t[j * m + r] = *v;
        }
        reference_norms[r] = row.iter().map(|v| v * v).sum();
    }
    let reference_t = g.floats("reference_maps_t", &[k, m], &reference_t);
    let reference_norms = g.floats("reference_norms", &[1, m], &reference_norms);
    let dots = g.op("MatMul", &[&q, &reference_t], vec![]);
    let q2 = g.op("Mul", &[&q, &q], vec![]);
    let axis = g.ints("axes", &[1]);
    let q_norms = g.op("ReduceSum", &[&q2, &axis], vec![Attr::Int("keepdims", 1)]);
    let minus_two = g.floats("minus_two", &[1], &[-2.0]);
    let cross = g.op("Mul", &[&dots, &minus_two], vec![]);
    let partial = g.op("Add", &[&cross, &q_norms], vec![]);
    let squared = g.op("Add", &[&partial, &reference_norms], vec![]);
    let zero = g.floats("zero", &[1], &[0.0]);
    let squared = g.op("Max", &[&squared, &zero], vec![]);
    Ok(mean_of_nearest(g, &squared, NEIGHBOURS.min(m)))
}

/// The mean distance of each code to its `neighbours` nearest training codes. The differences
/// are taken directly, batch × references × latent at once (about 256 KiB a row with 2,000
/// references and a 32-wide code), because the cheaper expansion ‖z‖² + ‖r‖² − 2 z·r loses the
/// small distances that matter here to rounding (up to 1e-4 of the score on a conv2d model).
fn knn(g: &mut Graph, detector: &Detector, code: &str) -> Result<String> {
    let k = detector.latent_mean.len();
    let m = detector.reference_codes.len() / k.max(1);
    let neighbours = detector.neighbours.min(m);
    if neighbours == 0 {
        return Err(Error::invalid(
            "this model keeps no training codes, so its knn score cannot be exported",
        ));
    }
    let references = g.floats("reference_codes", &[1, m, k], &detector.reference_codes);
    let axis = g.ints("axes", &[1]);
    let column = g.op("Unsqueeze", &[code, &axis], vec![]);
    let difference = g.op("Sub", &[&column, &references], vec![]);
    let square = g.op("Mul", &[&difference, &difference], vec![]);
    // ReduceSum takes its axes as an input from opset 13 on.
    let last = g.ints("axes", &[2]);
    let squared = g.op(
        "ReduceSum",
        &[&square, &last],
        vec![Attr::Int("keepdims", 0)],
    );
    Ok(mean_of_nearest(g, &squared, neighbours))
}

/// The mean over each row's `neighbours` smallest squared distances (`batch × references`) of
/// their square roots.
fn mean_of_nearest(g: &mut Graph, squared: &str, neighbours: usize) -> String {
    let count = g.ints("neighbours", &[neighbours as i64]);
    let nearest = g.op_outputs(
        "TopK",
        &[squared, &count],
        vec![
            Attr::Int("axis", 1),
            Attr::Int("largest", 0),
            Attr::Int("sorted", 0),
        ],
        2,
    );
    let distances = g.op("Sqrt", &[&nearest[0]], vec![]);
    row_mean(g, &distances)
}
