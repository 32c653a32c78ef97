//! The service end to end: a model trained on the shipped cardiotocography table, served on an
//! ephemeral loopback port, called over plain HTTP/1.1.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use hourglass::artifact::TrainedModel;
use hourglass::data::{self, Dataset, LoadOptions};
use hourglass::device::Device;
use hourglass::tasks::anomaly;
use hourglass::train::{self, RunSettings, TrainOptions, plan};
use hourglass_serve::{App, Settings};
use serde_json::{Value, json};

fn cardio() -> Dataset {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/cardio/cardio.csv");
    let options = LoadOptions {
        label_column: Some("anomaly".into()),
        ..Default::default()
    };
    data::load(&path, &options).expect("the shipped cardio sample loads")
}

/// A model file trained (once per seed) with the default table recipe, shortened.
fn model_file(seed: u64) -> PathBuf {
    static FILES: OnceLock<std::sync::Mutex<Vec<(u64, PathBuf)>>> = OnceLock::new();
    let files = FILES.get_or_init(Default::default);
    let mut files = files.lock().unwrap();
    if let Some((_, path)) = files.iter().find(|(s, _)| *s == seed) {
        return path.clone();
    }
    let request = plan::Request {
        epochs: Some(5),
        ensemble: Some(1),
        options: TrainOptions {
            seed,
            ..TrainOptions::default()
        },
        ..plan::Request::default()
    };
    let plan = plan::plan(&request, cardio()).unwrap();
    let run = RunSettings::default();
    let model = train::train(&plan.data, &plan.config, &plan.options, &run).unwrap();
    let path = scratch(&format!("model-{seed}")).join("cardio.safetensors");
    model.save(&path).unwrap();
    files.push((seed, path.clone()));
    path
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hourglass-serve-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A running service; dropping it stops it.
struct Server {
    addr: SocketAddr,
    app: Arc<App>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    fn start(model: &Path, settings: Settings) -> Server {
        let app =
            Arc::new(App::new(vec![("cardio".into(), model.to_path_buf())], settings).unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (bound, address) = std::sync::mpsc::channel();
        let serving = app.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                bound.send(listener.local_addr().unwrap()).unwrap();
                hourglass_serve::serve(listener, serving, async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
            });
        });
        Server {
            addr: address.recv().unwrap(),
            app,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Stops accepting and waits until the requests in flight are answered.
    fn shut_down(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
    }

    fn post(&self, path: &str, body: &Value) -> Response {
        call(
            self.addr,
            "POST",
            path,
            "application/json",
            body.to_string().as_bytes(),
        )
    }

    fn get(&self, path: &str) -> Response {
        call(self.addr, "GET", path, "application/json", b"")
    }

    /// The value of an unlabelled-by-status metric line that starts with `prefix`.
    fn metric(&self, prefix: &str) -> f64 {
        self.find_metric(prefix)
            .unwrap_or_else(|| panic!("no metric {prefix} in:\n{}", self.get("/metrics").body))
    }

    /// A counter's value; 0 when it has no line yet (a label set is listed once counted).
    fn count(&self, prefix: &str) -> f64 {
        self.find_metric(prefix).unwrap_or(0.0)
    }

    /// The value on the first `/metrics` line that starts with `prefix`.
    fn find_metric(&self, prefix: &str) -> Option<f64> {
        let text = self.get("/metrics").body;
        text.lines()
            .find(|line| line.starts_with(prefix))
            .map(|line| {
                line.rsplit(' ')
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| panic!("unreadable metric line: {line}"))
            })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shut_down();
    }
}

struct Response {
    status: u16,
    headers: String,
    body: String,
}

impl Response {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
    fn error(&self) -> String {
        self.json()["error"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

/// One HTTP/1.1 request on its own connection.
fn call(addr: SocketAddr, method: &str, path: &str, content_type: &str, body: &[u8]) -> Response {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    // The service may answer (413) before reading a large body and close; that is fine.
    let _ = stream.write_all(body);
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (headers, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = headers
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    Response {
        status,
        headers: headers.to_lowercase(),
        body: body.to_string(),
    }
}

fn rows(data: &Dataset, range: std::ops::Range<usize>) -> Vec<Vec<f32>> {
    range.map(|i| data.row(i).to_vec()).collect()
}

#[test]
fn scores_rows_given_by_position_by_name_and_as_npy_as_the_library_does() {
    let path = model_file(1);
    let server = Server::start(&path, Settings::default());
    let data = cardio();
    let columns = data.columns.clone().unwrap();

    let answer = server.post(
        "/v1/models/cardio/score",
        &json!({ "instances": rows(&data, 0..40) }),
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    let answer = answer.json();
    let results = answer["results"].as_array().unwrap();
    assert_eq!(results.len(), 40);

    // The same numbers as the library's on the same rows.
    let model = TrainedModel::load(&path, &Device::flex()).unwrap();
    let mut scaled = data.values[..40 * 21].to_vec();
    model.scaling.apply(&mut scaled);
    let expected = anomaly::score(&model, &scaled, None, None, &Device::flex()).unwrap();
    let threshold = answer["threshold"].as_f64().unwrap();
    for (result, &want) in results.iter().zip(&expected.per_sample) {
        let got = result["score"].as_f64().unwrap();
        assert!(
            (got - want as f64).abs() <= 1e-5 * (1.0 + want.abs() as f64),
            "{got} vs {want}"
        );
        assert_eq!(result["anomalous"].as_bool().unwrap(), got > threshold);
        let top = result["top_columns"].as_array().unwrap();
        assert_eq!(top.len(), 3);
        assert!(columns.contains(&top[0]["column"].as_str().unwrap().to_string()));
    }

    // Rows as objects keyed by column name (in any order, extra fields ignored) score the same.
    let named: Vec<Value> = (0..40)
        .map(|i| {
            let mut row = serde_json::Map::new();
            row.insert("id".into(), json!(format!("row-{i}")));
            for (name, v) in columns.iter().zip(data.row(i)).rev() {
                row.insert(name.clone(), json!(v));
            }
            Value::Object(row)
        })
        .collect();
    let by_name = server.post("/v1/models/cardio/score", &json!({ "rows": named }));
    assert_eq!(by_name.status, 200, "{}", by_name.body);
    assert_eq!(by_name.json()["results"], answer["results"]);

    // A NumPy array body, for large batches.
    let npy = scratch("npy").join("rows.npy");
    data::npy::write(&npy, &data.values[..40 * 21], &[40, 21]).unwrap();
    let bytes = std::fs::read(&npy).unwrap();
    let as_npy = call(
        server.addr,
        "POST",
        "/v1/models/cardio/score",
        "application/x-npy",
        &bytes,
    );
    assert_eq!(as_npy.status, 200, "{}", as_npy.body);
    assert_eq!(as_npy.json()["results"], answer["results"]);

    // Codes and reconstructions, one per row.
    let codes = server.post(
        "/v1/models/cardio/encode",
        &json!({ "instances": rows(&data, 0..5) }),
    );
    assert_eq!(codes.status, 200, "{}", codes.body);
    let codes = codes.json()["codes"].as_array().unwrap().clone();
    assert_eq!(codes.len(), 5);
    assert_eq!(codes[0].as_array().unwrap().len(), model.config.latent);
    let back = server.post(
        "/v1/models/cardio/reconstruct",
        &json!({ "instances": rows(&data, 0..5) }),
    );
    assert_eq!(back.status, 200, "{}", back.body);
    let back = back.json()["reconstructions"].as_array().unwrap().clone();
    assert_eq!(back.len(), 5);
    assert_eq!(back[0].as_array().unwrap().len(), 21);

    // What the model is.
    let info = server.get("/v1/models/cardio").json();
    assert_eq!(info["features"], 21);
    assert_eq!(info["columns"].as_array().unwrap().len(), 21);
    assert_eq!(info["scaling"], "standardize");
    assert!(info["threshold_rule"].as_str().unwrap().starts_with("auto"));
    assert_eq!(server.get("/v1/models").json().as_array().unwrap().len(), 1);
    assert_eq!(server.get("/healthz").status, 200);
    assert_eq!(server.get("/readyz").status, 200);
}

#[test]
fn bad_input_gets_a_4xx_json_error_that_names_the_problem() {
    let settings = Settings {
        body_limit: 64 << 10,
        ..Settings::default()
    };
    let server = Server::start(&model_file(1), settings);
    let score = "/v1/models/cardio/score";
    let row: Vec<f64> = vec![1.0; 21];
    let cases: Vec<(Value, u16, &str)> = vec![
        (
            json!({ "instances": [[1.0, 2.0, 3.0]] }),
            422,
            "instance 0 has 3 values; the model takes 21",
        ),
        (json!({ "instances": [row, ["a"]] }), 400, "bad JSON body"),
        (json!({ "instances": [[null]] }), 400, "bad JSON body"),
        (json!({ "instances": [] }), 422, "no rows"),
        (
            json!({ "rows": [{ "LB": 1.0 }] }),
            422,
            "row 0 has no field \"AC\"",
        ),
        (
            json!({ "rows": [{ "LB": "x" }] }),
            422,
            "field \"LB\" is \"x\", not a number",
        ),
        (
            json!({ "instances": [vec![1e300; 21]] }),
            422,
            "not a finite number",
        ),
        (json!({ "values": [row] }), 400, "unknown field"),
        (json!({}), 422, "give either \"instances\""),
    ];
    for (body, status, message) in cases {
        let answer = server.post(score, &body);
        assert_eq!(answer.status, status, "{body}: {}", answer.body);
        assert!(answer.error().contains(message), "{body}: {}", answer.body);
    }
    let garbage = call(
        server.addr,
        "POST",
        score,
        "application/json",
        b"{\"instances\": [[1,",
    );
    assert_eq!(garbage.status, 400, "{}", garbage.body);
    let npy = call(
        server.addr,
        "POST",
        score,
        "application/x-npy",
        b"\x93NUMPY not really",
    );
    assert_eq!(npy.status, 422, "{}", npy.body);
    assert!(npy.error().contains("request body"), "{}", npy.body);

    let unknown = server.post("/v1/models/nope/score", &json!({ "instances": [row] }));
    assert_eq!(unknown.status, 404);
    assert!(unknown.error().contains("cardio"), "{}", unknown.body);
    assert_eq!(server.get("/v2/anything").status, 404);

    // 2,000 rows of 21 numbers is over the 64 KiB limit set above.
    let big = json!({ "instances": vec![row.clone(); 2000] });
    let answer = server.post(score, &big);
    assert_eq!(answer.status, 413, "{}", answer.body);
    // Nothing above was a server error.
    let text = server.get("/metrics").body;
    assert!(!text.contains("status=\"500\""), "{text}");
}

#[test]
fn concurrent_requests_share_forward_passes() {
    let settings = Settings {
        max_wait: Duration::from_millis(100),
        ..Settings::default()
    };
    let server = Server::start(&model_file(1), settings);
    let data = cardio();
    let addr = server.addr;
    let threads: Vec<_> = (0..16)
        .map(|i| {
            let body = json!({ "instances": rows(&data, i..i + 1) }).to_string();
            std::thread::spawn(move || {
                call(
                    addr,
                    "POST",
                    "/v1/models/cardio/score",
                    "application/json",
                    body.as_bytes(),
                )
            })
        })
        .collect();
    for thread in threads {
        let answer = thread.join().unwrap();
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    let passes = server.metric("hourglass_forward_passes_total{model=\"cardio\"}");
    assert!(passes < 16.0, "16 requests took {passes} forward passes");
    assert!(passes >= 1.0);
}

#[test]
fn a_full_queue_sheds_with_503_and_retry_after() {
    let settings = Settings {
        queue: 1,
        max_batch_rows: 1,
        max_wait: Duration::ZERO,
        // Only the full queue sheds here.
        max_queue_wait: Some(Duration::from_secs(60)),
        ..Settings::default()
    };
    let server = Server::start(&model_file(1), settings);
    let data = cardio();
    let body = json!({ "instances": rows(&data, 0..1500) }).to_string();
    let addr = server.addr;
    let threads: Vec<_> = (0..24)
        .map(|_| {
            let body = body.clone();
            std::thread::spawn(move || {
                call(
                    addr,
                    "POST",
                    "/v1/models/cardio/score",
                    "application/json",
                    body.as_bytes(),
                )
            })
        })
        .collect();
    let answers: Vec<Response> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let shed: Vec<&Response> = answers.iter().filter(|a| a.status == 503).collect();
    assert!(answers.iter().all(|a| a.status == 200 || a.status == 503));
    assert!(answers.iter().any(|a| a.status == 200));
    assert!(
        !shed.is_empty(),
        "24 concurrent requests against a queue of 1: none shed"
    );
    for answer in shed {
        assert!(
            answer.headers.contains("retry-after: 1"),
            "{}",
            answer.headers
        );
        assert!(answer.error().contains("overloaded"), "{}", answer.body);
    }
    assert!(server.metric("hourglass_shed_total{model=\"cardio\"}") >= 1.0);
}

#[test]
fn a_request_that_waited_too_long_in_the_queue_is_refused_not_computed() {
    // No wait is short enough for a budget of zero: every request is refused, as a request that
    // waited past the budget under overload is.
    let settings = Settings {
        max_queue_wait: Some(Duration::ZERO),
        ..Settings::default()
    };
    let server = Server::start(&model_file(1), settings);
    let body = json!({ "instances": rows(&cardio(), 0..3) });
    let answer = server.post("/v1/models/cardio/score", &body);
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert!(
        answer.headers.contains("retry-after: 1"),
        "{}",
        answer.headers
    );
    assert!(
        answer.error().contains("waited over 0 ms"),
        "{}",
        answer.body
    );
    assert_eq!(server.metric("hourglass_shed_total{model=\"cardio\"}"), 1.0);
    assert_eq!(
        server.count("hourglass_forward_passes_total{model=\"cardio\"}"),
        0.0
    );
}

#[test]
fn reload_swaps_the_model_without_failing_requests_and_refuses_a_broken_file() {
    let served = scratch("reload").join("model.safetensors");
    std::fs::copy(model_file(1), &served).unwrap();
    let server = Server::start(&served, Settings::default());
    let data = cardio();
    let body = json!({ "instances": rows(&data, 0..20) });
    let before = server.post("/v1/models/cardio/score", &body).json()["results"].clone();

    // Requests keep flowing while the file is swapped and reloaded several times.
    let addr = server.addr;
    let text = body.to_string();
    let traffic = std::thread::spawn(move || {
        (0..60)
            .map(|_| {
                call(
                    addr,
                    "POST",
                    "/v1/models/cardio/score",
                    "application/json",
                    text.as_bytes(),
                )
                .status
            })
            .collect::<Vec<u16>>()
    });
    for seed in [2, 1, 2] {
        std::fs::copy(model_file(seed), &served).unwrap();
        let answer = server.post("/v1/models/cardio/reload", &json!({}));
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    let statuses = traffic.join().unwrap();
    assert!(statuses.iter().all(|&s| s == 200), "{statuses:?}");
    let after = server.post("/v1/models/cardio/score", &body).json()["results"].clone();
    assert_ne!(
        before, after,
        "the reloaded model (another seed) scores differently"
    );

    // A broken file is refused and the model before it keeps serving.
    std::fs::write(&served, b"not a model").unwrap();
    let refused = server.post("/v1/models/cardio/reload", &json!({}));
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(
        refused.error().contains("previous model keeps serving"),
        "{}",
        refused.body
    );
    let still = server.post("/v1/models/cardio/score", &body);
    assert_eq!(still.status, 200);
    assert_eq!(still.json()["results"], after);
    assert!(server.app.models["cardio"].current.load().path == served);
}

#[test]
fn shutdown_answers_the_requests_in_flight_then_stops() {
    let settings = Settings {
        // Holds the request in the batcher long enough to shut down meanwhile.
        max_wait: Duration::from_millis(500),
        ..Settings::default()
    };
    let mut server = Server::start(&model_file(1), settings);
    let data = cardio();
    let addr = server.addr;
    let body = json!({ "instances": rows(&data, 0..3) }).to_string();
    let in_flight = std::thread::spawn(move || {
        call(
            addr,
            "POST",
            "/v1/models/cardio/score",
            "application/json",
            body.as_bytes(),
        )
    });
    std::thread::sleep(Duration::from_millis(150));
    server.shut_down();
    let answer = in_flight.join().unwrap();
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.json()["results"].as_array().unwrap().len(), 3);
    assert!(!server.app.is_ready());
    assert!(
        TcpStream::connect(addr).is_err(),
        "still accepting after shutdown"
    );
}

#[test]
fn the_openapi_document_covers_every_route() {
    let server = Server::start(&model_file(1), Settings::default());
    let doc = server.get("/openapi.json").json();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    let routes = [
        ("/v1/models", "get"),
        ("/v1/models/{name}", "get"),
        ("/v1/models/{name}/score", "post"),
        ("/v1/models/{name}/encode", "post"),
        ("/v1/models/{name}/reconstruct", "post"),
        ("/v1/models/{name}/reload", "post"),
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
        ("/openapi.json", "get"),
    ];
    assert_eq!(paths.len(), routes.len());
    for (path, method) in routes {
        assert!(
            paths[path][method].is_object(),
            "{path} {method} is not documented"
        );
        // Every documented GET answers 200 here.
        if method == "get" {
            let concrete = path.replace("{name}", "cardio");
            assert_eq!(server.get(&concrete).status, 200, "{concrete}");
        }
    }
    let metrics = server.get("/metrics").body;
    assert!(
        metrics.contains("hourglass_requests_total{endpoint=\"/openapi.json\",status=\"200\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("hourglass_model_load_seconds{model=\"cardio\"}"),
        "{metrics}"
    );
}
