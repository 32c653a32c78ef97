//! A small builder for an ONNX graph: named constants (initializers) and nodes with one output
//! each, named in order so an exported file reads top to bottom.

use super::proto::{
    AttributeProto, Dimension, GraphProto, NodeProto, TensorProto, TensorShapeProto,
    TensorTypeProto, TypeProto, ValueInfoProto, attribute_type, data_type,
};

/// An attribute of a node.
pub enum Attr {
    Int(&'static str, i64),
    Ints(&'static str, Vec<i64>),
    Float(&'static str, f32),
}

impl Attr {
    fn proto(self) -> AttributeProto {
        let mut a = AttributeProto::default();
        match self {
            Attr::Int(name, i) => {
                a.name = name.into();
                a.i = i;
                a.r#type = attribute_type::INT;
            }
            Attr::Ints(name, ints) => {
                a.name = name.into();
                a.ints = ints;
                a.r#type = attribute_type::INTS;
            }
            Attr::Float(name, f) => {
                a.name = name.into();
                a.f = f;
                a.r#type = attribute_type::FLOAT;
            }
        }
        a
    }
}

#[derive(Default)]
pub struct Graph {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
}

impl Graph {
    /// A float constant of shape `dims`.
    pub fn floats(&mut self, name: &str, dims: &[usize], values: &[f32]) -> String {
        debug_assert_eq!(dims.iter().product::<usize>(), values.len());
        let raw = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.initializer(name, dims, data_type::FLOAT, raw)
    }

    /// A one-dimensional int64 constant (shapes, axes, slice bounds).
    pub fn ints(&mut self, name: &str, values: &[i64]) -> String {
        let raw = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.initializer(name, &[values.len()], data_type::INT64, raw)
    }

    fn initializer(&mut self, name: &str, dims: &[usize], kind: i32, raw: Vec<u8>) -> String {
        let name = format!("{name}.{}", self.initializers.len());
        self.initializers.push(TensorProto {
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: kind,
            name: name.clone(),
            raw_data: raw,
        });
        name
    }

    /// Adds a node of `op` on `inputs` and returns the name of its (first) output.
    pub fn op(&mut self, op: &str, inputs: &[&str], attrs: Vec<Attr>) -> String {
        self.op_outputs(op, inputs, attrs, 1).remove(0)
    }

    /// Adds a node with `outputs` outputs and returns their names.
    pub fn op_outputs(
        &mut self,
        op: &str,
        inputs: &[&str],
        attrs: Vec<Attr>,
        outputs: usize,
    ) -> Vec<String> {
        let name = format!("{}{}", op.to_lowercase(), self.nodes.len());
        let outputs: Vec<String> = (0..outputs).map(|i| format!("{name}.out{i}")).collect();
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outputs.clone(),
            name,
            op_type: op.into(),
            attribute: attrs.into_iter().map(Attr::proto).collect(),
        });
        outputs
    }

    /// Gives the value `from` the name `name` (a graph output), through an `Identity` node.
    pub fn name_output(&mut self, from: &str, name: &str) {
        self.nodes.push(NodeProto {
            input: vec![from.into()],
            output: vec![name.into()],
            name: format!("identity{}", self.nodes.len()),
            op_type: "Identity".into(),
            attribute: Vec::new(),
        });
    }

    pub fn finish(
        self,
        name: &str,
        input: ValueInfoProto,
        output: ValueInfoProto,
        doc: String,
    ) -> GraphProto {
        GraphProto {
            node: self.nodes,
            name: name.into(),
            initializer: self.initializers,
            doc_string: doc,
            input: vec![input],
            output: vec![output],
        }
    }
}

/// A float tensor's name and shape; `None` axes are the dynamic batch axis.
pub fn float_value(name: &str, dims: &[Option<usize>]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| match d {
            Some(n) => Dimension {
                dim_value: Some(*n as i64),
                dim_param: None,
            },
            None => Dimension {
                dim_value: None,
                dim_param: Some("batch".into()),
            },
        })
        .collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TensorTypeProto {
                elem_type: data_type::FLOAT,
                shape: Some(TensorShapeProto { dim }),
            }),
        }),
        doc_string: String::new(),
    }
}
