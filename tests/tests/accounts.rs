//! Accounts, tokens, conversations and authorization, black-box over HTTP and WebSocket.

use parley_testkit::Worker::{Delivery, Directory, Persist};
use parley_testkit::{Stack, Ws};
use serde_json::json;
use uuid::Uuid;

#[tokio::test]
async fn register_login_refresh_rotation_and_logout() -> anyhow::Result<()> {
    let stack = Stack::with(&[Directory]).start().await?;
    let api = stack.api();
    let alice = api.register("alice").await?;
    // Usernames are unique case-insensitively.
    let (status, body) = api
        .call(
            "POST",
            "/auth/register",
            None,
            Some(
                json!({"username": alice.username.to_uppercase(), "password": "another password"}),
            ),
        )
        .await?;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("username_taken"))
    );
    let (status, body) = api
        .call(
            "POST",
            "/auth/register",
            None,
            Some(json!({"username": "x", "password": "short"})),
        )
        .await?;
    assert_eq!((status, body["code"].as_str()), (400, Some("bad_request")));

    let (status, login) = api
        .call("POST", "/auth/login", None, Some(json!({"username": alice.username.to_uppercase(), "password": "correct horse battery"})))
        .await?;
    assert_eq!(status, 200);
    assert_eq!(login["user"]["id"], alice.id.to_string());
    let (status, body) = api
        .call(
            "POST",
            "/auth/login",
            None,
            Some(json!({"username": alice.username, "password": "wrong password"})),
        )
        .await?;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("invalid_credentials"))
    );

    // Rotation: a refresh token works once; presenting it again revokes the whole login.
    let (status, first) = api
        .call(
            "POST",
            "/auth/refresh",
            None,
            Some(json!({"refreshToken": alice.refresh})),
        )
        .await?;
    assert_eq!(status, 200);
    let rotated = first["refreshToken"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_ne!(rotated, alice.refresh);
    let (status, _) = api
        .call(
            "POST",
            "/auth/refresh",
            None,
            Some(json!({"refreshToken": alice.refresh})),
        )
        .await?;
    assert_eq!(status, 401, "reuse of a rotated token is refused");
    let (status, _) = api
        .call(
            "POST",
            "/auth/refresh",
            None,
            Some(json!({"refreshToken": rotated})),
        )
        .await?;
    assert_eq!(status, 401, "and the family it belonged to is revoked");

    let (_, fresh) = api
        .call(
            "POST",
            "/auth/login",
            None,
            Some(json!({"username": alice.username, "password": "correct horse battery"})),
        )
        .await?;
    let refresh = fresh["refreshToken"].as_str().unwrap_or_default();
    assert_eq!(
        api.call(
            "POST",
            "/auth/logout",
            None,
            Some(json!({"refreshToken": refresh}))
        )
        .await?
        .0,
        204
    );
    assert_eq!(
        api.call(
            "POST",
            "/auth/refresh",
            None,
            Some(json!({"refreshToken": refresh}))
        )
        .await?
        .0,
        401
    );

    // Profile and search.
    let (status, me) = api
        .call(
            "PATCH",
            "/users/me",
            Some(&alice.token),
            Some(json!({"displayName": "Alice A.", "avatarUrl": "https://example.com/a.png"})),
        )
        .await?;
    assert_eq!(status, 200);
    assert_eq!(me["displayName"], "Alice A.");
    let (status, _) = api
        .call(
            "PATCH",
            "/users/me",
            Some(&alice.token),
            Some(json!({"avatarUrl": "javascript:alert(1)"})),
        )
        .await?;
    assert_eq!(status, 400);
    let bob = api.register("bob").await?;
    let (_, found) = api
        .call(
            "GET",
            &format!("/users/search?q={}", &alice.username[..7]),
            Some(&bob.token),
            None,
        )
        .await?;
    assert!(
        found["users"]
            .as_array()
            .is_some_and(|u| u.iter().any(|u| u["id"] == alice.id.to_string()))
    );
    assert_eq!(
        api.call("GET", "/users/me", None, None).await?.1["code"],
        "not_authenticated"
    );
    assert_eq!(
        api.call("GET", "/users/me", Some("garbage"), None).await?.1["code"],
        "invalid_token"
    );
    Ok(())
}

#[tokio::test]
async fn failed_logins_are_throttled_in_redis() -> anyhow::Result<()> {
    let stack = Stack::with(&[Directory])
        .env(&[("PARLEY_LOGIN_FAILURES_MAX", "3")])
        .start()
        .await?;
    let api = stack.api();
    let alice = api.register("alice").await?;
    for _ in 0..3 {
        let (status, _) = api
            .call(
                "POST",
                "/auth/login",
                None,
                Some(json!({"username": alice.username, "password": "nope nope"})),
            )
            .await?;
        assert_eq!(status, 401);
    }
    let (status, body) = api
        .call(
            "POST",
            "/auth/login",
            None,
            Some(json!({"username": alice.username, "password": "correct horse battery"})),
        )
        .await?;
    assert_eq!((status, body["code"].as_str()), (429, Some("rate_limited")));
    // The guesser's address is stopped; the owner, elsewhere, is not locked out.
    let owner = parley_testkit::Api::from_address(&stack.edge_url(0), "127.0.0.3".parse()?)?;
    let (status, body) = owner
        .call(
            "POST",
            "/auth/login",
            None,
            Some(json!({"username": alice.username, "password": "correct horse battery"})),
        )
        .await?;
    assert_eq!(status, 200, "{body}");
    Ok(())
}

#[tokio::test]
async fn groups_admins_members_and_the_size_cap() -> anyhow::Result<()> {
    let stack = Stack::with(&[Directory, Persist, Delivery])
        .env(&[("PARLEY_MAX_GROUP_MEMBERS", "3")])
        .start()
        .await?;
    let api = stack.api();
    let (a, b, c, d) = (
        api.register("a").await?,
        api.register("b").await?,
        api.register("c").await?,
        api.register("d").await?,
    );
    let (status, body) = api
        .call(
            "POST",
            "/conversations",
            Some(&a.token),
            Some(json!({"type": "group", "memberIds": [b.id, c.id, d.id], "name": "big"})),
        )
        .await?;
    assert_eq!((status, body["code"].as_str()), (409, Some("group_full")));
    let g = api.conversation(&a, "group", &[&b], Some("team")).await?;
    let mut cws = Ws::connect(&stack.edge_url(0), &c.token).await?;
    // Only admins add.
    let (status, _) = api
        .call(
            "POST",
            &format!("/conversations/{g}/members"),
            Some(&b.token),
            Some(json!({"userIds": [c.id]})),
        )
        .await?;
    assert_eq!(status, 403);
    let (status, conv) = api
        .call(
            "POST",
            &format!("/conversations/{g}/members"),
            Some(&a.token),
            Some(json!({"userIds": [c.id]})),
        )
        .await?;
    assert_eq!(status, 200);
    assert_eq!(conv["members"].as_array().map(Vec::len), Some(3));
    // The added member is told at once.
    let upd = cws.recv_type("conversation:updated").await?;
    assert_eq!(upd["conversation"]["id"], g.to_string());
    let (status, body) = api
        .call(
            "POST",
            &format!("/conversations/{g}/members"),
            Some(&a.token),
            Some(json!({"userIds": [d.id]})),
        )
        .await?;
    assert_eq!((status, body["code"].as_str()), (409, Some("group_full")));
    // Members cannot remove others; anyone can leave; admins remove.
    assert_eq!(
        api.call(
            "DELETE",
            &format!("/conversations/{g}/members/{}", c.id),
            Some(&b.token),
            None
        )
        .await?
        .0,
        403
    );
    assert_eq!(
        api.call(
            "DELETE",
            &format!("/conversations/{g}/members/{}", b.id),
            Some(&b.token),
            None
        )
        .await?
        .0,
        200
    );
    assert_eq!(
        api.call(
            "DELETE",
            &format!("/conversations/{g}/members/{}", c.id),
            Some(&a.token),
            None
        )
        .await?
        .0,
        200
    );
    assert_eq!(
        cws.recv_type("conversation:removed").await?["conversationId"],
        g.to_string()
    );
    // A removed member can no longer read or send.
    assert_eq!(
        api.call(
            "GET",
            &format!("/conversations/{g}/messages"),
            Some(&c.token),
            None
        )
        .await?
        .0,
        404
    );
    let id = cws.send_message(g, "still here?").await?;
    let err = cws
        .recv_until(|v| v["type"] == "error" && v["ref"] == id.to_string())
        .await?;
    assert_eq!(err["code"], "not_member");
    // Renaming is for admins.
    assert_eq!(
        api.call(
            "PATCH",
            &format!("/conversations/{g}"),
            Some(&a.token),
            Some(json!({"name": "renamed"}))
        )
        .await?
        .1["name"],
        "renamed"
    );
    Ok(())
}

#[tokio::test]
async fn non_members_are_refused_everywhere() -> anyhow::Result<()> {
    let stack = Stack::with(&[Directory, Persist, Delivery]).start().await?;
    let api = stack.api();
    let (alice, bob, eve) = (
        api.register("alice").await?,
        api.register("bob").await?,
        api.register("eve").await?,
    );
    let conv = api.conversation(&alice, "direct", &[&bob], None).await?;
    let mut a = Ws::connect(&stack.edge_url(0), &alice.token).await?;
    a.send_message(conv, "secret").await?;
    a.recv_until(|v| v["type"] == "message:new").await?;
    let missing = Uuid::now_v7();
    for path in [
        format!("/conversations/{conv}"),
        format!("/conversations/{conv}/messages"),
    ] {
        let (status, body) = api.call("GET", &path, Some(&eve.token), None).await?;
        assert_eq!(
            (status, body["code"].as_str()),
            (404, Some("not_found")),
            "{path}"
        );
        // Indistinguishable from a conversation that does not exist.
        let (status2, _) = api
            .call(
                "GET",
                &path.replace(&conv.to_string(), &missing.to_string()),
                Some(&eve.token),
                None,
            )
            .await?;
        assert_eq!(status2, 404);
    }
    let (status, body) = api
        .call(
            "POST",
            &format!("/conversations/{conv}/messages"),
            Some(&eve.token),
            Some(json!({"id": Uuid::now_v7(), "body": "hi"})),
        )
        .await?;
    assert_eq!((status, body["code"].as_str()), (403, Some("not_member")));
    assert_eq!(
        api.call(
            "POST",
            &format!("/conversations/{conv}/members"),
            Some(&eve.token),
            Some(json!({"userIds": [eve.id]}))
        )
        .await?
        .0,
        404
    );
    let (_, list) = api
        .call("GET", "/conversations", Some(&eve.token), None)
        .await?;
    assert_eq!(list["conversations"].as_array().map(Vec::len), Some(0));

    let mut e = Ws::connect(&stack.edge_url(0), &eve.token).await?;
    let id = e.send_message(conv, "let me in").await?;
    assert_eq!(
        e.recv_until(|v| v["type"] == "error").await?["ref"],
        id.to_string()
    );
    e.send(json!({"type": "sync", "cursors": {conv.to_string(): 0}}))
        .await?;
    let err = e.recv_until(|v| v["type"] == "error").await?;
    assert_eq!(err["code"], "not_found");
    e.recv_type("sync:done").await?;
    let about_conv = conv.to_string();
    assert!(
        !e.sees_within(std::time::Duration::from_millis(300), |v| v
            .to_string()
            .contains(&about_conv))
            .await,
        "eve received nothing of the conversation"
    );
    // Forwarding out of a conversation one is not in is refused too.
    let eve_conv = api.conversation(&eve, "direct", &[&bob], None).await?;
    let fwd = Uuid::now_v7();
    e.send(json!({"type": "message:send", "id": fwd, "conversationId": eve_conv, "body": "x", "forwardFrom": {"conversationId": conv, "messageId": Uuid::now_v7()}})).await?;
    assert_eq!(
        e.recv_until(|v| v["ref"] == fwd.to_string()).await?["code"],
        "not_member"
    );
    Ok(())
}
