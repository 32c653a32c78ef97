//! The OpenAPI 3 document served at `/openapi.json`, written by hand beside the handlers in
//! `api` (a test checks that every route is in it; schemathesis checks the answers against it).

use serde_json::{Value, json};

/// The document.
pub fn document() -> Value {
    let error = json!({ "$ref": "#/components/schemas/Error" });
    let errors = |codes: &[&str]| -> Value {
        let mut map = serde_json::Map::new();
        for &code in codes {
            map.insert(
                code.to_string(),
                json!({
                    "description": describe(code),
                    "content": { "application/json": { "schema": error } }
                }),
            );
        }
        Value::Object(map)
    };
    let name = json!({
        "name": "name", "in": "path", "required": true, "schema": { "type": "string" }
    });
    let rows_body = json!({
        "required": true,
        "content": {
            "application/json": { "schema": { "$ref": "#/components/schemas/Rows" } },
            "application/x-npy": { "schema": { "type": "string", "format": "binary" } }
        }
    });
    let compute = |summary: &str, answer: &str| -> Value {
        let mut responses = errors(&["400", "404", "413", "422", "503"]);
        responses["200"] = json!({
            "description": "one result per row, in order",
            "content": { "application/json": {
                "schema": { "$ref": format!("#/components/schemas/{answer}") }
            } }
        });
        json!({ "post": {
            "summary": summary,
            "parameters": [name],
            "requestBody": rows_body,
            "responses": responses
        } })
    };
    let ok = |description: &str, schema: Value| -> Value {
        json!({ "description": description, "content": { "application/json": { "schema": schema } } })
    };
    let info = json!({ "$ref": "#/components/schemas/ModelInfo" });
    let status = json!({
        "type": "object", "required": ["status"], "properties": { "status": { "type": "string" } }
    });
    let mut describe_model = errors(&["404"]);
    describe_model["200"] = ok("the model", info.clone());
    let mut reload = errors(&["404", "422"]);
    reload["200"] = ok("the model now served", info.clone());
    let mut readyz = errors(&["503"]);
    readyz["200"] = ok("ready", status.clone());
    let number_rows = json!({ "type": "array", "items": {
        "type": "array", "items": { "type": ["number", "null"] }
    } });
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "hourglass serve",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Anomaly scores, latent codes and reconstructions from trained hourglass models."
        },
        "paths": {
            "/v1/models": { "get": {
                "summary": "The served models",
                "responses": { "200": ok("every served model", json!({ "type": "array", "items": info })) }
            } },
            "/v1/models/{name}": { "get": {
                "summary": "One served model: input shape, columns, scaling, threshold, training summary",
                "parameters": [name],
                "responses": describe_model
            } },
            "/v1/models/{name}/score": compute("Anomaly score, flag and (tables) top columns per row", "ScoreAnswer"),
            "/v1/models/{name}/encode": compute("Latent code per row", "EncodeAnswer"),
            "/v1/models/{name}/reconstruct": compute("Reconstruction per row, in the data's units", "ReconstructAnswer"),
            "/v1/models/{name}/reload": { "post": {
                "summary": "Read the model file again and swap it in (a broken file is refused)",
                "parameters": [name],
                "responses": reload
            } },
            "/healthz": { "get": {
                "summary": "The process is up",
                "responses": { "200": ok("up", status) }
            } },
            "/readyz": { "get": { "summary": "Ready for requests (not shutting down)", "responses": readyz } },
            "/metrics": { "get": {
                "summary": "Prometheus/OpenMetrics text",
                "responses": { "200": {
                    "description": "metrics",
                    "content": { "application/openmetrics-text": { "schema": { "type": "string" } } }
                } }
            } },
            "/openapi.json": { "get": {
                "summary": "This document",
                "responses": { "200": ok("the OpenAPI document", json!({ "type": "object" })) }
            } }
        },
        "components": { "schemas": {
            "Error": {
                "type": "object", "required": ["error"],
                "properties": { "error": { "type": "string" } }
            },
            "Rows": {
                "type": "object",
                "description": "Either instances (rows of numbers; images flattened) or rows (objects keyed by the model's column names).",
                "additionalProperties": false,
                "oneOf": [{ "required": ["instances"] }, { "required": ["rows"] }],
                "properties": {
                    "instances": { "type": "array", "items": { "type": "array", "items": { "type": "number" } } },
                    "rows": { "type": "array", "items": { "type": "object" } }
                }
            },
            "ScoreAnswer": {
                "type": "object", "required": ["model", "score", "threshold", "threshold_rule", "results"],
                "properties": {
                    "model": { "type": "string" },
                    "score": { "type": "string" },
                    "threshold": { "type": ["number", "null"] },
                    "threshold_rule": { "type": ["string", "null"] },
                    "results": { "type": "array", "items": {
                        "type": "object", "required": ["score", "anomalous"],
                        "properties": {
                            "score": { "type": ["number", "null"] },
                            "anomalous": { "type": ["boolean", "null"] },
                            "top_columns": { "type": "array", "items": {
                                "type": "object", "required": ["column", "share"],
                                "properties": {
                                    "column": { "type": "string" },
                                    "share": { "type": ["number", "null"] }
                                }
                            } }
                        }
                    } }
                }
            },
            "EncodeAnswer": {
                "type": "object", "required": ["model", "codes"],
                "properties": { "model": { "type": "string" }, "codes": number_rows }
            },
            "ReconstructAnswer": {
                "type": "object", "required": ["model", "reconstructions"],
                "properties": { "model": { "type": "string" }, "reconstructions": number_rows }
            },
            "ModelInfo": {
                "type": "object",
                "required": ["name", "path", "architecture", "sample_kind", "input_shape", "features",
                             "latent", "scaling", "score", "training", "loaded_at", "load_seconds"],
                "properties": {
                    "name": { "type": "string" },
                    "path": { "type": "string" },
                    "architecture": { "type": "string" },
                    "sample_kind": { "type": "string", "enum": ["table", "image"] },
                    "input_shape": { "type": "array", "items": { "type": "integer" }, "minItems": 3, "maxItems": 3 },
                    "features": { "type": "integer" },
                    "columns": { "type": ["array", "null"], "items": { "type": "string" } },
                    "latent": { "type": "integer" },
                    "scaling": { "type": "string", "enum": ["pixels", "standardize", "robust"] },
                    "score": { "type": "string" },
                    "threshold": { "type": ["number", "null"] },
                    "threshold_rule": { "type": ["string", "null"] },
                    "train_fraction_flagged": { "type": ["number", "null"] },
                    "training": { "type": "object" },
                    "loaded_at": { "type": "integer" },
                    "load_seconds": { "type": "number" }
                }
            }
        } }
    })
}

fn describe(code: &str) -> &'static str {
    match code {
        "400" => "the body is not valid JSON of the expected form",
        "404" => "no such model",
        "413" => "the body or its row count is over the limit",
        "422" => {
            "the rows do not fit the model (width, names, non-finite values), or a reload was refused"
        }
        "503" => "overloaded, timed out or shutting down; retry after the Retry-After seconds",
        _ => "error",
    }
}
