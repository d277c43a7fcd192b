//! register, login, logout, me, user, sessions and admin rights.

use serde_json::json;
use uuid::Uuid;

use crate::helpers::{JWT_SECRET, PASSWORD, TestApp, data, error_code, error_field, new_client};

const REGISTER: &str = "mutation($input: UserRegistrationInput!) {
    register(input: $input) { id email firstName lastName isAdmin token createdAt }
}";

fn registration(email: &str) -> serde_json::Value {
    json!({ "input": {
        "email": email, "firstName": "Ada", "lastName": "Lovelace",
        "password": "secret1", "passwordConfirmation": "secret1"
    }})
}

#[tokio::test]
async fn register_creates_an_account_and_logs_it_in() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(app.graphql_url())
        .json(&json!({ "query": REGISTER, "variables": registration("Ada@Example.com") }))
        .send()
        .await
        .unwrap();
    let cookie = response
        .headers()
        .get("set-cookie")
        .expect("a session cookie")
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("jwt="), "{cookie}");
    let body: serde_json::Value = response.json().await.unwrap();
    let user = &data(&body)["register"];
    assert_eq!(user["email"], "ada@example.com");
    assert_eq!(user["firstName"], "Ada");
    assert_eq!(user["isAdmin"], false);
    // The token lives in the HttpOnly cookie only, out of reach of scripts.
    assert!(user["token"].is_null(), "{user}");
    assert!(user["createdAt"].as_str().unwrap().ends_with('Z'));

    // The cookie jar now holds the session.
    let me = app.gql("{ me { id email } }", json!({})).await;
    assert_eq!(data(&me)["me"]["id"], user["id"]);

    // The password is stored as argon2id, never in clear.
    let hash = app
        .scalar_string("SELECT \"passwordHash\" FROM users WHERE email = 'ada@example.com'")
        .await;
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
}

#[tokio::test]
async fn register_validates_every_field() {
    let app = TestApp::spawn().await;
    app.create_user("taken@example.com", false).await;
    let cases = [
        (json!({"email": "not-an-email"}), "email"),
        (json!({"firstName": ""}), "firstName"),
        (json!({"firstName": "x".repeat(33)}), "firstName"),
        (json!({"lastName": "   "}), "lastName"),
        (json!({"lastName": "y".repeat(33)}), "lastName"),
        (
            json!({"password": "12345", "passwordConfirmation": "12345"}),
            "password",
        ),
        (
            json!({"password": "p".repeat(65), "passwordConfirmation": "p".repeat(65)}),
            "password",
        ),
        (
            json!({"passwordConfirmation": "different"}),
            "passwordConfirmation",
        ),
        (json!({"email": "TAKEN@example.com"}), "email"),
    ];
    for (patch, field) in cases {
        let mut variables = registration("new@example.com");
        for (key, value) in patch.as_object().unwrap() {
            variables["input"][key] = value.clone();
        }
        let body = app.gql_with(&new_client(), REGISTER, variables).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{field}: {body}");
        assert_eq!(error_field(&body), field, "{body}");
    }
    assert_eq!(app.scalar_i64("SELECT count(*) FROM users").await, 1);
}

#[tokio::test]
async fn login_sets_a_strict_http_only_cookie_with_a_node_compatible_token() {
    let app = TestApp::spawn().await;
    let id = app.create_user("grace@example.com", false).await;
    let response = new_client()
        .post(app.graphql_url())
        .json(&json!({
            "query": "mutation { login(email: \"GRACE@example.com\", password: \"correct-horse\") { id email token } }"
        }))
        .send()
        .await
        .unwrap();
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=1209600"] {
        assert!(cookie.contains(attribute), "missing {attribute}: {cookie}");
    }
    assert!(!cookie.contains("Secure"), "{cookie}");
    let body: serde_json::Value = response.json().await.unwrap();
    let login = &data(&body)["login"];
    assert_eq!(login["id"], id.to_string());

    assert!(login["token"].is_null(), "{login}");

    // HS256, {sub, isAdmin, iat, exp = iat + 14 days}, signed with JWT_SECRET.
    let token = cookie
        .strip_prefix("jwt=")
        .and_then(|rest| rest.split(';').next())
        .unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.validate_exp = true;
    let claims = jsonwebtoken::decode::<serde_json::Value>(
        token,
        &jsonwebtoken::DecodingKey::from_secret(JWT_SECRET.as_bytes()),
        &validation,
    )
    .expect("token verifies with the shared secret")
    .claims;
    assert_eq!(claims["sub"], id.to_string());
    assert_eq!(claims["isAdmin"], false);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        14 * 24 * 3600
    );
}

#[tokio::test]
async fn the_token_is_in_the_body_only_when_asked_for() {
    let app = TestApp::spawn_with(&[("SESSION_TOKEN_IN_RESPONSE", "true")]).await;
    app.create_user("old@example.com", false).await;
    let body = app
        .gql(
            "mutation { login(email: \"old@example.com\", password: \"correct-horse\") { token } }",
            json!({}),
        )
        .await;
    let token = data(&body)["login"]["token"].as_str().unwrap().to_owned();
    assert_eq!(token.split('.').count(), 3, "{token}");
    let body = app
        .gql_with(&new_client(), REGISTER, registration("new@example.com"))
        .await;
    assert!(data(&body)["register"]["token"].as_str().unwrap().len() > 20);
}

#[tokio::test]
async fn cookie_is_secure_when_configured() {
    let app = TestApp::spawn_with(&[("COOKIE_SECURE", "true")]).await;
    app.create_user("sec@example.com", false).await;
    let response = new_client()
        .post(app.graphql_url())
        .json(&json!({ "query": "mutation { login(email: \"sec@example.com\", password: \"correct-horse\") { id } }" }))
        .send()
        .await
        .unwrap();
    assert!(
        response.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Secure")
    );
}

#[tokio::test]
async fn wrong_email_and_wrong_password_fail_the_same_way() {
    let app = TestApp::spawn().await;
    app.create_user("grace@example.com", false).await;
    let query = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { id } }";
    let wrong_password = app
        .gql(query, json!({ "e": "grace@example.com", "p": "nope-nope" }))
        .await;
    let wrong_email = app
        .gql(query, json!({ "e": "nobody@example.com", "p": PASSWORD }))
        .await;
    assert_eq!(error_code(&wrong_password), "UNAUTHENTICATED");
    assert_eq!(error_code(&wrong_email), "UNAUTHENTICATED");
    assert_eq!(
        wrong_password["errors"][0]["message"],
        wrong_email["errors"][0]["message"]
    );
}

#[tokio::test]
async fn logout_clears_the_cookie() {
    let app = TestApp::spawn().await;
    app.create_user("grace@example.com", false).await;
    let client = app.login("grace@example.com").await;
    let response = client
        .post(app.graphql_url())
        .json(&json!({ "query": "mutation { logout }" }))
        .send()
        .await
        .unwrap();
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        cookie.starts_with("jwt=;") && cookie.contains("Max-Age=0"),
        "{cookie}"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(data(&body)["logout"], true);
    let me = app.gql_with(&client, "{ me { id } }", json!({})).await;
    assert_eq!(error_code(&me), "UNAUTHENTICATED");
}

#[tokio::test]
async fn me_requires_a_session_and_user_is_public() {
    let app = TestApp::spawn().await;
    let anonymous = app.gql("{ me { id } }", json!({})).await;
    assert_eq!(error_code(&anonymous), "UNAUTHENTICATED");

    let (id, client) = app.user_client("grace@example.com").await;
    let me = app
        .gql_with(&client, "{ me { id email isAdmin } }", json!({}))
        .await;
    assert_eq!(data(&me)["me"]["email"], "grace@example.com");

    let public = app
        .gql(
            "query($id: UUID!) { user(id: $id) { id firstName lastName isAdmin createdAt } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(data(&public)["user"]["id"], id.to_string());
    // A PublicUser has no email field at all.
    let leak = app
        .gql(
            "query($id: UUID!) { user(id: $id) { email } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(error_code(&leak), "BAD_USER_INPUT");

    let missing = app
        .gql(
            "query($id: UUID!) { user(id: $id) { id } }",
            json!({ "id": Uuid::new_v4() }),
        )
        .await;
    assert!(data(&missing)["user"].is_null());
}

#[tokio::test]
async fn an_invalid_cookie_is_ignored_and_cleared_without_breaking_public_queries() {
    let app = TestApp::spawn().await;
    app.create_meet(
        "Public",
        "HACKATHON",
        "2030-01-01T10:00:00",
        "2030-01-02T10:00:00",
        "UTC",
    )
    .await;
    let id = app.create_user("grace@example.com", false).await;
    let expired = mintbean_core::auth::token::issue(
        id,
        false,
        JWT_SECRET,
        chrono::Utc::now() - chrono::Duration::days(20),
    )
    .unwrap();
    let forged =
        mintbean_core::auth::token::issue(id, true, "some other secret", chrono::Utc::now())
            .unwrap();
    for cookie in [
        "jwt=garbage".to_owned(),
        format!("jwt={expired}"),
        format!("jwt={forged}"),
    ] {
        let response = new_client()
            .post(app.graphql_url())
            .header("cookie", &cookie)
            .json(&json!({ "query": "{ meets { title } }" }))
            .send()
            .await
            .unwrap();
        let set_cookie = response.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(set_cookie.contains("Max-Age=0"), "{set_cookie}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(data(&body)["meets"][0]["title"], "Public");
    }
}

#[tokio::test]
async fn a_token_signed_by_the_node_backend_is_accepted() {
    let app = TestApp::spawn().await;
    let id = app.create_user("node@example.com", false).await;
    // jsonwebtoken (Node) `sign({ sub }, secret, { expiresIn: "2w" })`: no isAdmin claim.
    let now = chrono::Utc::now().timestamp();
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({ "sub": id.to_string(), "iat": now, "exp": now + 14 * 24 * 3600 }),
        &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .unwrap();
    let response = new_client()
        .post(app.graphql_url())
        .header("cookie", format!("jwt={token}"))
        .json(&json!({ "query": "{ me { id } }" }))
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(data(&body)["me"]["id"], id.to_string());
}

#[tokio::test]
async fn admin_rights_come_from_the_database_not_the_token() {
    let app = TestApp::spawn().await;
    let (admin_id, admin) = app.admin_client().await;
    let create = "mutation { createBadge(input: { alias: \":x:\", badgeShape: STAR, faIcon: \"x\", title: \"X badge\" }) { id } }";
    // Demote: the still-valid token says isAdmin=true, but rights are gone at once.
    app.sql_values(
        r#"UPDATE users SET "isAdmin" = false WHERE id = $1"#,
        vec![admin_id.into()],
    )
    .await;
    assert_eq!(
        error_code(&app.gql_with(&admin, create, json!({})).await),
        "FORBIDDEN"
    );
    // And a promoted user gains them without logging in again.
    let (user_id, user) = app.user_client("promoted@example.com").await;
    app.sql_values(
        r#"UPDATE users SET "isAdmin" = true WHERE id = $1"#,
        vec![user_id.into()],
    )
    .await;
    data(&app.gql_with(&user, create, json!({})).await);
}

#[tokio::test]
async fn a_deleted_account_is_logged_out() {
    let app = TestApp::spawn().await;
    let (id, client) = app.user_client("gone@example.com").await;
    app.sql_values(
        "UPDATE users SET deleted = true WHERE id = $1",
        vec![id.into()],
    )
    .await;
    assert_eq!(
        error_code(&app.gql_with(&client, "{ me { id } }", json!({})).await),
        "UNAUTHENTICATED"
    );
    let login = app
        .gql(
            "mutation { login(email: \"gone@example.com\", password: \"correct-horse\") { id } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&login), "UNAUTHENTICATED");
}

#[tokio::test]
async fn bcrypt_hashes_from_the_node_backend_log_in_and_are_upgraded() {
    let app = TestApp::spawn().await;
    let legacy = bcrypt::hash_with_result("legacy-pass", 4)
        .unwrap()
        .format_for_version(bcrypt::Version::TwoA);
    app.sql_values(
        r#"INSERT INTO users (email, "firstName", "lastName", "passwordHash") VALUES ('old@example.com', 'Old', 'Timer', $1)"#,
        vec![legacy.into()],
    )
    .await;
    let query =
        "mutation($p: String!) { login(email: \"old@example.com\", password: $p) { email } }";
    assert_eq!(
        error_code(&app.gql(query, json!({ "p": "wrong" })).await),
        "UNAUTHENTICATED"
    );
    data(&app.gql(query, json!({ "p": "legacy-pass" })).await);
    let hash = app
        .scalar_string("SELECT \"passwordHash\" FROM users WHERE email = 'old@example.com'")
        .await;
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    // The new hash works for the next login too.
    data(
        &app.gql_with(&new_client(), query, json!({ "p": "legacy-pass" }))
            .await,
    );
}

/// During a migration that may still be rolled back, bcrypt hashes verify and are kept, so the
/// Node backend still accepts these users' passwords.
#[tokio::test]
async fn with_rehash_legacy_passwords_false_bcrypt_hashes_are_kept() {
    let app = TestApp::spawn_with(&[("REHASH_LEGACY_PASSWORDS", "false")]).await;
    let legacy = bcrypt::hash_with_result("legacy-pass", 4)
        .unwrap()
        .format_for_version(bcrypt::Version::TwoA);
    app.sql_values(
        r#"INSERT INTO users (email, "firstName", "lastName", "passwordHash") VALUES ('old@example.com', 'Old', 'Timer', $1)"#,
        vec![legacy.clone().into()],
    )
    .await;
    let query =
        "mutation($p: String!) { login(email: \"old@example.com\", password: $p) { email } }";
    for _ in 0..2 {
        data(
            &app.gql_with(&new_client(), query, json!({ "p": "legacy-pass" }))
                .await,
        );
    }
    let hash = app
        .scalar_string("SELECT \"passwordHash\" FROM users WHERE email = 'old@example.com'")
        .await;
    assert_eq!(hash, legacy);
    assert!(bcrypt::verify("legacy-pass", &hash).unwrap());
}

/// GraphQL's rule, as the Node backend answered: an errored nullable field is `null`, its key
/// present; a lone errored nullable root field leaves `data` an object.
#[tokio::test]
async fn an_errored_nullable_field_is_null_not_missing() {
    let app = TestApp::spawn().await;
    let body = app.gql("{ badges { id } me { id } }", json!({})).await;
    assert_eq!(body["data"], json!({ "badges": [], "me": null }), "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    let body = app.gql("{ me { id } }", json!({})).await;
    assert_eq!(body["data"], json!({ "me": null }), "{body}");
    assert_eq!(body["errors"][0]["path"], json!(["me"]));
    // A non-null root field's error still leaves `data` null.
    let body = app.gql("{ jobs { totalCount } }", json!({})).await;
    assert!(body["data"].is_null(), "{body}");
}
