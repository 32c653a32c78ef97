//! The HTTP handlers: read and check a request's rows, hand them to the model's batcher, and
//! shape the answer. Every refusal is a JSON `{"error": "..."}` with a 4xx status that names the
//! problem; 503 (with `Retry-After`) means "overloaded, try again".

use std::path::Path as FsPath;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::App;
use crate::batch::{Job, Refused, Reply};
use crate::models::{ModelInfo, Op, Served};
use hourglass::data::SampleKind;
use hourglass::tasks::anomaly::{Contribution, top_columns};

/// A refusal: status and message.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }
    fn unprocessable(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(serde_json::json!({ "error": self.message })),
        )
            .into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

/// Which model and how many rows a response was about, for the request log.
#[derive(Clone)]
pub struct Logged {
    pub model: String,
    pub rows: usize,
}

/// A request body in JSON: `instances` (rows of numbers, images flattened) or `rows` (objects
/// whose fields are the model's column names).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RowsBody {
    instances: Option<Vec<Vec<f64>>>,
    rows: Option<Vec<Map<String, Value>>>,
}

/// The answer to `score`: one result per row, in order.
#[derive(Serialize)]
struct ScoreAnswer {
    model: String,
    score: &'static str,
    threshold: Option<f64>,
    threshold_rule: Option<String>,
    results: Vec<RowScore>,
}

#[derive(Serialize)]
struct RowScore {
    score: f32,
    /// Whether the score is above the threshold (`null` for a model without one).
    anomalous: Option<bool>,
    /// For a table: the columns that contribute most to the score.
    #[serde(skip_serializing_if = "Option::is_none")]
    top_columns: Option<Vec<Contribution>>,
}

pub async fn score(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (reply, rows) = compute(&app, &name, Op::Score, &headers, body).await?;
    let served = &reply.served;
    let features = served.features();
    let names = served.model.columns.clone().unwrap_or_default();
    let threshold = served.threshold.as_ref().map(|t| t.value);
    let results = reply
        .values
        .iter()
        .enumerate()
        .map(|(i, &score)| RowScore {
            score,
            anomalous: threshold.map(|t| score as f64 > t),
            top_columns: (served.model.kind == SampleKind::Tabular)
                .then(|| top_columns(&reply.per_feature[i * features..(i + 1) * features], &names)),
        })
        .collect();
    let answer = ScoreAnswer {
        model: name.clone(),
        score: served.score.name(),
        threshold,
        threshold_rule: served.threshold.as_ref().map(|t| t.rule.clone()),
        results,
    };
    Ok(logged(Json(answer), name, rows))
}

pub async fn encode(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    rows_answer(&app, name, Op::Encode, "codes", &headers, body).await
}

pub async fn reconstruct(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    rows_answer(
        &app,
        name,
        Op::Reconstruct,
        "reconstructions",
        &headers,
        body,
    )
    .await
}

/// `{"model": name, key: [[...], ...]}`: one row of the op's output per request row.
async fn rows_answer(
    app: &App,
    name: String,
    op: Op,
    key: &str,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (reply, rows) = compute(app, &name, op, headers, body).await?;
    let values = as_rows(&reply.values, reply.served.width(op));
    let answer = serde_json::json!({ "model": name, key: values });
    Ok(logged(Json(answer), name, rows))
}

pub async fn list(State(app): State<Arc<App>>) -> Json<Vec<ModelInfo>> {
    Json(
        app.models
            .iter()
            .map(|(name, slot)| slot.current.load().info(name))
            .collect(),
    )
}

pub async fn describe(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
) -> Result<Json<ModelInfo>, ApiError> {
    let slot = app.slot(&name)?;
    Ok(Json(slot.current.load().info(&name)))
}

pub async fn reload(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
) -> Result<Json<ModelInfo>, ApiError> {
    app.slot(&name)?;
    let loader = app.clone();
    let model = name.clone();
    let result = tokio::task::spawn_blocking(move || loader.reload(&model))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    match result {
        Ok(info) => Ok(Json(info)),
        Err(e) => Err(ApiError::unprocessable(format!(
            "reload refused, the previous model keeps serving: {e}"
        ))),
    }
}

pub async fn healthz() -> Json<Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

pub async fn readyz(State(app): State<Arc<App>>) -> Response {
    if app.is_ready() {
        Json(serde_json::json!({ "status": "ready" })).into_response()
    } else {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response()
    }
}

pub async fn metrics(State(app): State<Arc<App>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        app.metrics.render(),
    )
        .into_response()
}

pub async fn openapi() -> Json<Value> {
    Json(crate::openapi::document())
}

pub async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no such endpoint (see /openapi.json)",
    )
}

/// Reads the rows of a request, queues them and waits for the model's answer.
async fn compute(
    app: &App,
    name: &str,
    op: Op,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(Reply, usize), ApiError> {
    let slot = app.slot(name)?;
    let body = body.map_err(|r| ApiError::new(r.status(), r.body_text()))?;
    let served = slot.current.load_full();
    let values = read_rows(&served, headers, &body)?;
    let features = served.features();
    let rows = values.len() / features;
    if rows > app.settings.max_request_rows {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "{rows} rows in one request; the most is {} (split the request)",
                app.settings.max_request_rows
            ),
        ));
    }
    let (reply, answer) = tokio::sync::oneshot::channel();
    let job = Job {
        op,
        values,
        rows,
        reply,
        queued: std::time::Instant::now(),
    };
    slot.batcher.submit(job).map_err(|_| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("model {name} is overloaded (its queue is full); retry shortly"),
        )
    })?;
    match tokio::time::timeout(app.settings.timeout, answer).await {
        Ok(Ok(Ok(reply))) => Ok((reply, rows)),
        Ok(Ok(Err(Refused::Overloaded))) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "model {name} is overloaded (the request waited over {} ms in its queue); retry shortly",
                app.settings.queue_wait().as_millis()
            ),
        )),
        Ok(Ok(Err(Refused::Failed(message)))) => {
            Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message))
        }
        Ok(Err(_)) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the model's worker stopped; retry shortly",
        )),
        Err(_) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "no answer within {} ms; retry shortly",
                app.settings.timeout.as_millis()
            ),
        )),
    }
}

/// The request's rows as raw f32 values, checked against the model: `application/x-npy` bodies
/// are NumPy arrays, anything else is JSON.
fn read_rows(served: &Served, headers: &HeaderMap, body: &[u8]) -> Result<Vec<f32>, ApiError> {
    let features = served.features();
    let is_npy = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-npy"));
    let values = if is_npy {
        let source = FsPath::new("request body");
        let data = hourglass::data::npy::from_bytes(source, body)
            .map_err(|e| ApiError::unprocessable(e.to_string()))?;
        if data.shape.features() != features {
            return Err(ApiError::unprocessable(format!(
                "the array's samples have {} values ({}); model takes {features} ({})",
                data.shape.features(),
                data.shape,
                served.model.input
            )));
        }
        data.values
    } else {
        let parsed: RowsBody = serde_json::from_slice(body)
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("bad JSON body: {e}")))?;
        match (parsed.instances, parsed.rows) {
            (Some(instances), None) => from_instances(instances, features)?,
            (None, Some(rows)) => from_named(rows, served)?,
            _ => {
                return Err(ApiError::unprocessable(
                    "give either \"instances\" (rows of numbers) or \"rows\" (objects keyed by column name)",
                ));
            }
        }
    };
    if values.is_empty() {
        return Err(ApiError::unprocessable("the request has no rows"));
    }
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(ApiError::unprocessable(format!(
            "row {}, value {} is not a finite number (NaN, infinite, or beyond float32's range)",
            i / features,
            i % features
        )));
    }
    Ok(values)
}

fn from_instances(instances: Vec<Vec<f64>>, features: usize) -> Result<Vec<f32>, ApiError> {
    let mut values = Vec::with_capacity(instances.len() * features);
    for (i, row) in instances.iter().enumerate() {
        if row.len() != features {
            return Err(ApiError::unprocessable(format!(
                "instance {i} has {} values; the model takes {features}",
                row.len()
            )));
        }
        values.extend(row.iter().map(|&v| v as f32));
    }
    Ok(values)
}

fn from_named(rows: Vec<Map<String, Value>>, served: &Served) -> Result<Vec<f32>, ApiError> {
    let Some(columns) = served.model.columns.as_ref() else {
        return Err(ApiError::unprocessable(
            "this model has no column names (its training table had no header); send \"instances\"",
        ));
    };
    let mut values = Vec::with_capacity(rows.len() * columns.len());
    for (i, row) in rows.iter().enumerate() {
        for column in columns {
            let value = row.get(column).ok_or_else(|| {
                ApiError::unprocessable(format!("row {i} has no field {column:?}"))
            })?;
            let number = value.as_f64().ok_or_else(|| {
                ApiError::unprocessable(format!(
                    "row {i}, field {column:?} is {value}, not a number"
                ))
            })?;
            values.push(number as f32);
        }
    }
    Ok(values)
}

fn as_rows(values: &[f32], width: usize) -> Vec<&[f32]> {
    values.chunks_exact(width.max(1)).collect()
}

/// A response with what the request log should say about it.
fn logged(body: impl IntoResponse, model: String, rows: usize) -> Response {
    let mut response = body.into_response();
    response.extensions_mut().insert(Logged { model, rows });
    response
}
