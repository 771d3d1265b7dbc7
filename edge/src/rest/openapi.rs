use axum::Json;

/// The OpenAPI 3.1 document, generated from the `contracts` types.
pub async fn document() -> Json<serde_json::Value> {
    Json(parley_contracts::schema::openapi())
}
