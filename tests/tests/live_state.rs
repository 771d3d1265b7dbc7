//! Live conversation state over real services, black-box: receipts (delivered/read watermarks,
//! group read state, read-receipt privacy, multi-device), presence (devices, edges, status,
//! privacy, a killed edge), blocking and reporting.

mod common;

use std::time::Duration;

use parley_testkit::Worker::{Delivery, Directory, Persist, Presence, Receipts};
use parley_testkit::{Session, Stack, StackBuilder, Worker, Ws};
use serde_json::{Value, json};
use uuid::Uuid;

/// A stack of `workers` and `edges` edges where presence expires and is swept quickly.
fn live_stack(workers: &[Worker], edges: usize) -> StackBuilder {
    Stack::with(workers).edges(edges).env(&[
        ("PARLEY_PRESENCE_TTL_SECONDS", "3"),
        ("PARLEY_PRESENCE_HEARTBEAT_SECONDS", "1"),
        ("PARLEY_PRESENCE_SWEEP_MS", "200"),
    ])
}

/// What receipts need: messages stored and routed, and the receipts worker.
const RECEIPTS: &[Worker] = &[Directory, Persist, Delivery, Receipts];
/// What presence needs: conversations (audiences), routing, and the presence worker.
const PRESENCE: &[Worker] = &[Directory, Persist, Delivery, Presence];

/// A `message:status` frame for `user` in `conv` with exactly these watermarks.
fn status(conv: Uuid, user: &Session, delivered: u64, read: u64) -> impl Fn(&Value) -> bool {
    let (conv, user) = (conv.to_string(), user.id.to_string());
    move |v: &Value| {
        v["type"] == "message:status"
            && v["conversationId"] == conv
            && v["userId"] == user
            && v["deliveredSeq"] == delivered
            && v["readSeq"] == read
    }
}

fn presence(user: &Session, state: &'static str) -> impl Fn(&Value) -> bool {
    let user = user.id.to_string();
    move |v: &Value| v["type"] == "presence" && v["userId"] == user && v["status"] == state
}

fn any_presence_of(user: &Session) -> impl Fn(&Value) -> bool {
    let user = user.id.to_string();
    move |v: &Value| v["type"] == "presence" && v["userId"] == user
}

async fn receipts(stack: &Stack, who: &Session, conv: Uuid) -> anyhow::Result<Vec<Value>> {
    let (code, body) = stack
        .api()
        .call(
            "GET",
            &format!("/conversations/{conv}/receipts"),
            Some(&who.token),
            None,
        )
        .await?;
    anyhow::ensure!(code == 200, "receipts: {code} {body}");
    Ok(body["receipts"].as_array().cloned().unwrap_or_default())
}

fn marks_of(list: &[Value], user: &Session) -> (u64, u64) {
    list.iter()
        .find(|r| r["userId"] == user.id.to_string())
        .map(|r| {
            (
                r["deliveredSeq"].as_u64().unwrap_or(u64::MAX),
                r["readSeq"].as_u64().unwrap_or(u64::MAX),
            )
        })
        .unwrap_or((u64::MAX, u64::MAX))
}

async fn unread(stack: &Stack, who: &Session, conv: Uuid) -> anyhow::Result<u64> {
    let (_, body) = stack
        .api()
        .call("GET", "/conversations", Some(&who.token), None)
        .await?;
    let list = body["conversations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let c = list
        .iter()
        .find(|c| c["id"] == conv.to_string())
        .ok_or_else(|| anyhow::anyhow!("conversation not listed"))?;
    Ok(c["unreadCount"].as_u64().unwrap_or(u64::MAX))
}

async fn patch_me(stack: &Stack, who: &Session, body: Value) -> anyhow::Result<Value> {
    let (code, body) = stack
        .api()
        .call("PATCH", "/users/me", Some(&who.token), Some(body))
        .await?;
    anyhow::ensure!(code == 200, "patch me: {code} {body}");
    Ok(body)
}

/// Send `n` messages and wait until `to` has seen the last one.
async fn send_n(from: &mut Ws, to: &mut Ws, conv: Uuid, n: usize) -> anyhow::Result<u64> {
    let mut last = 0;
    for i in 0..n {
        let id = from.send_message(conv, &format!("message {i}")).await?;
        let got = to
            .recv_until(|v| v["type"] == "message:new" && v["message"]["id"] == id.to_string())
            .await?;
        last = got["message"]["seq"].as_u64().unwrap_or(0);
    }
    Ok(last)
}

#[tokio::test]
async fn read_receipts_in_a_group_of_five() -> anyhow::Result<()> {
    let stack = live_stack(RECEIPTS, 1).start().await?;
    let api = stack.api();
    let mut users = Vec::new();
    for name in ["ann", "ben", "cat", "dan", "eve"] {
        users.push(api.register(name).await?);
    }
    let others: Vec<&Session> = users[1..].iter().collect();
    let group = api
        .conversation(&users[0], "group", &others, Some("five"))
        .await?;
    let url = stack.edge_url(0);
    let mut ws = Vec::new();
    for u in &users {
        ws.push(Ws::connect(&url, &u.token).await?);
    }
    let (first, rest) = ws.split_at_mut(1);
    let last = send_n(&mut first[0], &mut rest[0], group, 3).await?;
    assert_eq!(last, 3);

    // Ben's device got everything; Cat read up to 2; Dan read all.
    rest[0]
        .send(json!({"type": "message:delivered", "conversationId": group, "seq": 3}))
        .await?;
    rest[1]
        .send(json!({"type": "message:read", "conversationId": group, "seq": 2}))
        .await?;
    rest[2]
        .send(json!({"type": "message:read", "conversationId": group, "seq": 3}))
        .await?;
    let ann = &mut first[0];
    ann.recv_until(status(group, &users[1], 3, 0)).await?;
    ann.recv_until(status(group, &users[2], 2, 2)).await?;
    ann.recv_until(status(group, &users[3], 3, 3)).await?;
    // Every member sees the same state, not only the sender.
    rest[3].recv_until(status(group, &users[3], 3, 3)).await?;

    // "Read by 1 of 4, delivered to 3": the sender's view over REST.
    let list = receipts(&stack, &users[0], group).await?;
    assert_eq!(list.len(), 5, "every member listed: {list:?}");
    assert_eq!(marks_of(&list, &users[1]), (3, 0));
    assert_eq!(marks_of(&list, &users[2]), (2, 2));
    assert_eq!(marks_of(&list, &users[3]), (3, 3));
    assert_eq!(marks_of(&list, &users[4]), (0, 0));

    // Unread counts follow the read watermark.
    assert_eq!(unread(&stack, &users[2], group).await?, 1);
    assert_eq!(unread(&stack, &users[3], group).await?, 0);
    assert_eq!(unread(&stack, &users[4], group).await?, 3);

    // Watermarks never move backwards, and never past the conversation's end.
    rest[1]
        .send(json!({"type": "message:read", "conversationId": group, "seq": 1}))
        .await?;
    rest[3]
        .send(json!({"type": "message:read", "conversationId": group, "seq": 999}))
        .await?;
    ann.recv_until(status(group, &users[4], 3, 3)).await?;
    let list = receipts(&stack, &users[0], group).await?;
    assert_eq!(marks_of(&list, &users[2]), (2, 2));
    assert_eq!(marks_of(&list, &users[4]), (3, 3));

    // REST read is the same path.
    let (code, body) = api
        .call(
            "PUT",
            &format!("/conversations/{group}/read"),
            Some(&users[2].token),
            Some(json!({"seq": 3})),
        )
        .await?;
    assert_eq!(code, 204, "{body}");
    ann.recv_until(status(group, &users[2], 3, 3)).await?;
    assert_eq!(unread(&stack, &users[2], group).await?, 0);
    Ok(())
}

#[tokio::test]
async fn read_receipts_off_hides_them_both_ways() -> anyhow::Result<()> {
    let stack = live_stack(RECEIPTS, 1).start().await?;
    let api = stack.api();
    let (ann, ben, _) = api.direct_pair().await?;
    let cat = api.register("cat").await?;
    let group = api
        .conversation(&ann, "group", &[&ben, &cat], Some("g"))
        .await?;
    let me = patch_me(&stack, &cat, json!({"readReceipts": false})).await?;
    assert_eq!(me["readReceipts"], false);
    let url = stack.edge_url(0);
    let mut a = Ws::connect(&url, &ann.token).await?;
    let mut b = Ws::connect(&url, &ben.token).await?;
    let mut c = Ws::connect(&url, &cat.token).await?;
    send_n(&mut a, &mut c, group, 2).await?;

    // Cat reads: others see delivered, not read; Cat's own devices see the truth.
    c.send(json!({"type": "message:read", "conversationId": group, "seq": 2}))
        .await?;
    a.recv_until(status(group, &cat, 2, 0)).await?;
    c.recv_until(status(group, &cat, 2, 2)).await?;
    // Ben reads: Ann sees it, Cat (receipts off) does not.
    b.send(json!({"type": "message:read", "conversationId": group, "seq": 2}))
        .await?;
    a.recv_until(status(group, &ben, 2, 2)).await?;
    c.recv_until(status(group, &ben, 2, 0)).await?;
    let list = receipts(&stack, &cat, group).await?;
    assert_eq!(marks_of(&list, &ben), (2, 0));
    assert_eq!(marks_of(&list, &cat), (2, 2));
    let list = receipts(&stack, &ann, group).await?;
    assert_eq!(marks_of(&list, &ben), (2, 2));
    assert_eq!(marks_of(&list, &cat), (2, 0));
    // Cat's unread count still follows the real watermark.
    assert_eq!(unread(&stack, &cat, group).await?, 0);
    Ok(())
}

#[tokio::test]
async fn delivered_is_the_furthest_device_and_devices_share_read_state() -> anyhow::Result<()> {
    let stack = live_stack(RECEIPTS, 2).start().await?;
    let api = stack.api();
    let (ann, ben, conv) = api.direct_pair().await?;
    let mut a = Ws::connect(&stack.edge_url(0), &ann.token).await?;
    let mut phone = Ws::connect(&stack.edge_url(0), &ben.token).await?;
    let mut laptop = Ws::connect(&stack.edge_url(1), &ben.token).await?;
    send_n(&mut a, &mut phone, conv, 3).await?;
    laptop
        .recv_until(|v| v["type"] == "message:new" && v["message"]["seq"] == 3)
        .await?;
    phone
        .send(json!({"type": "message:delivered", "conversationId": conv, "seq": 3}))
        .await?;
    laptop
        .send(json!({"type": "message:delivered", "conversationId": conv, "seq": 1}))
        .await?;
    a.recv_until(status(conv, &ben, 3, 0)).await?;
    // The laptop reads: the phone (another edge) learns Ben's read state too.
    laptop
        .send(json!({"type": "message:read", "conversationId": conv, "seq": 2}))
        .await?;
    phone.recv_until(status(conv, &ben, 3, 2)).await?;
    let list = receipts(&stack, &ann, conv).await?;
    assert_eq!(marks_of(&list, &ben), (3, 2));
    Ok(())
}

#[tokio::test]
async fn bad_receipts_are_refused_and_non_members_learn_nothing() -> anyhow::Result<()> {
    let stack = live_stack(&[Directory, Persist], 1).start().await?;
    let api = stack.api();
    let (ann, _ben, conv) = api.direct_pair().await?;
    let eve = api.register("eve").await?;
    let mut e = Ws::connect(&stack.edge_url(0), &eve.token).await?;
    e.send(json!({"type": "message:read", "conversationId": conv, "seq": 1}))
        .await?;
    let err = e.recv_type("error").await?;
    assert_eq!(err["code"], "not_found");
    let mut a = Ws::connect(&stack.edge_url(0), &ann.token).await?;
    a.send(json!({"type": "message:read", "conversationId": conv, "seq": 0}))
        .await?;
    assert_eq!(a.recv_type("error").await?["code"], "bad_request");
    a.send(json!({"type": "message:read", "conversationId": conv, "seq": -1}))
        .await?;
    assert_eq!(a.recv_type("error").await?["code"], "bad_request");
    a.send(json!({"type": "presence:set", "status": "sleeping"}))
        .await?;
    assert_eq!(a.recv_type("error").await?["code"], "bad_request");
    // The connection survives all of it.
    a.send(json!({"type": "ping", "ref": "p"})).await?;
    a.recv_type("pong").await?;
    for (method, path, body) in [
        ("GET", format!("/conversations/{conv}/receipts"), None),
        (
            "PUT",
            format!("/conversations/{conv}/read"),
            Some(json!({"seq": 1})),
        ),
    ] {
        let (code, body) = api.call(method, &path, Some(&eve.token), body).await?;
        assert_eq!(code, 404, "{method} {path}: {body}");
    }
    Ok(())
}

#[tokio::test]
async fn presence_follows_devices_status_and_privacy() -> anyhow::Result<()> {
    let stack = live_stack(PRESENCE, 1).start().await?;
    let api = stack.api();
    let (ann, ben, _conv) = api.direct_pair().await?;
    let stranger = api.register("zed").await?;
    let url = stack.edge_url(0);
    let mut b = Ws::connect(&url, &ben.token).await?;
    // A new device is told its contacts' presence once: Ann has never been online.
    let never = b.recv_until(presence(&ann, "offline")).await?;
    assert!(never["lastSeen"].is_null(), "{never}");

    // Ann's first device: online; a second device and its departure change nothing visible.
    let a1 = Ws::connect(&url, &ann.token).await?;
    b.recv_until(presence(&ann, "online")).await?;
    let mut a2 = Ws::connect(&url, &ann.token).await?;
    a2.send(json!({"type": "presence:set", "status": "away"}))
        .await?;
    b.recv_until(presence(&ann, "away")).await?;
    a2.send(json!({"type": "presence:set", "status": "invisible"}))
        .await?;
    let hidden = b.recv_until(presence(&ann, "offline")).await?;
    assert!(hidden["lastSeen"].is_string(), "{hidden}");
    a2.send(json!({"type": "presence:set", "status": "online"}))
        .await?;
    b.recv_until(presence(&ann, "online")).await?;
    b.drain(Duration::from_millis(300)).await;
    drop(a1);
    assert!(
        !b.sees_within(Duration::from_millis(1500), presence(&ann, "offline"))
            .await,
        "one device left, still online"
    );
    drop(a2);
    let gone = b.recv_until(presence(&ann, "offline")).await?;
    assert!(gone["lastSeen"].is_string(), "{gone}");

    // A new device learns its contacts' presence at once.
    let _a = Ws::connect(&url, &ann.token).await?;
    b.recv_until(presence(&ann, "online")).await?;
    let mut b2 = Ws::connect(&url, &ben.token).await?;
    b2.recv_until(presence(&ann, "online")).await?;

    // Profiles: contacts see status and last seen; strangers only when the user chose
    // "everyone" (the default is "contacts").
    let profile = |who: &Session| {
        let api = stack.api();
        let token = who.token.clone();
        let id = ann.id;
        async move {
            let (code, body) = api
                .call("GET", &format!("/users/{id}"), Some(&token), None)
                .await?;
            anyhow::ensure!(code == 200, "{body}");
            anyhow::Ok(body)
        }
    };
    assert_eq!(profile(&ben).await?["presence"]["status"], "online");
    assert!(profile(&stranger).await?.get("presence").is_none());
    patch_me(&stack, &ann, json!({"presencePrivacy": "everyone"})).await?;
    assert_eq!(profile(&stranger).await?["presence"]["status"], "online");
    patch_me(&stack, &ann, json!({"presencePrivacy": "contacts"})).await?;
    assert_eq!(profile(&ben).await?["presence"]["status"], "online");
    assert!(profile(&stranger).await?.get("presence").is_none());
    // "nobody": no status or last seen for anyone, and no pushes.
    let me = patch_me(&stack, &ann, json!({"presencePrivacy": "nobody"})).await?;
    assert_eq!(me["presencePrivacy"], "nobody");
    assert!(profile(&ben).await?.get("presence").is_none());
    b.drain(Duration::from_millis(300)).await;
    drop(_a);
    assert!(
        !b.sees_within(Duration::from_secs(3), any_presence_of(&ann))
            .await,
        "no presence pushed for a user who shares it with nobody"
    );
    let (code, bad) = api
        .call(
            "PATCH",
            "/users/me",
            Some(&ann.token),
            Some(json!({"presencePrivacy": "friends"})),
        )
        .await?;
    assert_eq!(code, 400, "{bad}");
    Ok(())
}

#[tokio::test]
async fn users_of_a_killed_edge_go_offline() -> anyhow::Result<()> {
    let mut stack = live_stack(PRESENCE, 2).start().await?;
    let api = stack.api();
    let (ann, ben, _) = api.direct_pair().await?;
    let mut b = Ws::connect(&stack.edge_url(0), &ben.token).await?;
    // The snapshot a new device gets first (Ann never seen), before any change.
    b.recv_until(presence(&ann, "offline")).await?;
    let _a = Ws::connect(&stack.edge_url(1), &ann.token).await?;
    b.recv_until(presence(&ann, "online")).await?;
    let started = std::time::Instant::now();
    stack.edges.remove(1).kill9();
    let off = b.recv_until(presence(&ann, "offline")).await?;
    assert!(off["lastSeen"].is_string());
    // TTL 3 s + sweep 0.2 s + routing, with slack for a loaded machine.
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "offline after {:?}",
        started.elapsed()
    );
    Ok(())
}

#[tokio::test]
async fn blocked_users_are_refused() -> anyhow::Result<()> {
    let stack = live_stack(PRESENCE, 1).start().await?;
    let api = stack.api();
    let (ann, ben, conv) = api.direct_pair().await?;
    let url = stack.edge_url(0);
    let a = Ws::connect(&url, &ann.token).await?;
    let mut b = Ws::connect(&url, &ben.token).await?;
    b.recv_until(presence(&ann, "online")).await?;

    let (code, body) = api
        .call(
            "POST",
            &format!("/users/{}/block", ben.id),
            Some(&ann.token),
            None,
        )
        .await?;
    assert_eq!(code, 204, "{body}");
    let (_, blocks) = api
        .call("GET", "/users/me/blocks", Some(&ann.token), None)
        .await?;
    assert_eq!(blocks["users"][0]["id"], ben.id.to_string());
    // The conversation shows as blocked to both.
    b.recv_until(|v| v["type"] == "conversation:updated" && v["conversation"]["blocked"] == true)
        .await?;

    // Ben can no longer message Ann, in either direction, over WS or REST.
    let id = b.send_message(conv, "hello?").await?;
    let err = b
        .recv_until(|v| v["type"] == "error" && v["ref"] == id.to_string())
        .await?;
    assert_eq!(err["code"], "blocked");
    let (code, body) = api
        .call(
            "POST",
            &format!("/conversations/{conv}/messages"),
            Some(&ann.token),
            Some(json!({"id": Uuid::now_v7(), "body": "x"})),
        )
        .await?;
    assert_eq!((code, body["code"].as_str()), (403, Some("blocked")));
    let (code, body) = api
        .call(
            "POST",
            "/conversations",
            Some(&ben.token),
            Some(json!({"type": "direct", "memberIds": [ann.id]})),
        )
        .await?;
    assert_eq!((code, body["code"].as_str()), (403, Some("blocked")));
    // Nor through a group: Ben can neither start one with Ann in it nor add her to one.
    let cat = api.register("cat").await?;
    let (code, body) = api
        .call(
            "POST",
            "/conversations",
            Some(&ben.token),
            Some(json!({"type": "group", "name": "g", "memberIds": [cat.id, ann.id]})),
        )
        .await?;
    assert_eq!(
        (code, body["code"].as_str()),
        (403, Some("blocked")),
        "{body}"
    );
    let group = api.conversation(&ben, "group", &[&cat], Some("g2")).await?;
    let (code, body) = api
        .call(
            "POST",
            &format!("/conversations/{group}/members"),
            Some(&ben.token),
            Some(json!({"userIds": [ann.id]})),
        )
        .await?;
    assert_eq!(
        (code, body["code"].as_str()),
        (403, Some("blocked")),
        "{body}"
    );
    // Others may still put both in one group (see docs/security.md on blocks in groups).
    let (code, body) = api
        .call(
            "POST",
            "/conversations",
            Some(&cat.token),
            Some(json!({"type": "group", "name": "g3", "memberIds": [ben.id, ann.id]})),
        )
        .await?;
    assert_eq!(code, 201, "{body}");

    // No presence across the block: Ann's comings and goings are not pushed to Ben, and
    // Ben cannot read it from her profile.
    b.drain(Duration::from_millis(300)).await;
    drop(a);
    assert!(
        !b.sees_within(Duration::from_secs(3), any_presence_of(&ann))
            .await
    );
    let (_, profile) = api
        .call("GET", &format!("/users/{}", ann.id), Some(&ben.token), None)
        .await?;
    assert!(profile.get("presence").is_none(), "{profile}");

    // Unblocking restores messaging.
    let (code, _) = api
        .call(
            "DELETE",
            &format!("/users/{}/block", ben.id),
            Some(&ann.token),
            None,
        )
        .await?;
    assert_eq!(code, 204);
    b.recv_until(|v| v["type"] == "conversation:updated" && v["conversation"]["blocked"] == false)
        .await?;
    b.send_message(conv, "friends again").await?;
    b.recv_type("ack").await?;
    // Blocking oneself or a stranger id is refused cleanly.
    let (code, _) = api
        .call(
            "POST",
            &format!("/users/{}/block", ann.id),
            Some(&ann.token),
            None,
        )
        .await?;
    assert_eq!(code, 400);
    let (code, _) = api
        .call(
            "POST",
            &format!("/users/{}/block", Uuid::now_v7()),
            Some(&ann.token),
            None,
        )
        .await?;
    assert_eq!(code, 404);
    Ok(())
}

#[tokio::test]
async fn reports_are_stored_for_moderation() -> anyhow::Result<()> {
    let stack = live_stack(&[Directory, Persist, Delivery], 1)
        .start()
        .await?;
    let api = stack.api();
    let (ann, ben, conv) = api.direct_pair().await?;
    let eve = api.register("eve").await?;
    let mut a = Ws::connect(&stack.edge_url(0), &ann.token).await?;
    let mut b = Ws::connect(&stack.edge_url(0), &ben.token).await?;
    let id = a.send_message(conv, "something nasty").await?;
    b.recv_until(|v| v["type"] == "message:new").await?;
    let path = format!("/conversations/{conv}/messages/{id}/report");
    let (code, first) = api
        .call(
            "POST",
            &path,
            Some(&ben.token),
            Some(json!({"reason": "abuse"})),
        )
        .await?;
    assert_eq!(code, 201, "{first}");
    let (code, again) = api
        .call(
            "POST",
            &path,
            Some(&ben.token),
            Some(json!({"reason": "abuse!"})),
        )
        .await?;
    assert_eq!(
        (code, &again["id"]),
        (201, &first["id"]),
        "one report per reporter"
    );
    let (code, _) = api
        .call(
            "POST",
            &path,
            Some(&eve.token),
            Some(json!({"reason": "abuse"})),
        )
        .await?;
    assert_eq!(code, 404, "non-members cannot report");
    let (code, _) = api
        .call(
            "POST",
            &path,
            Some(&ben.token),
            Some(json!({"reason": " "})),
        )
        .await?;
    assert_eq!(code, 400);
    let unknown = format!("/conversations/{conv}/messages/{}/report", Uuid::now_v7());
    let (code, _) = api
        .call(
            "POST",
            &unknown,
            Some(&ben.token),
            Some(json!({"reason": "x"})),
        )
        .await?;
    assert_eq!(code, 404);
    // The report is in the moderation table with a snapshot of the body.
    let pool = parley_testkit::sqlx::PgPool::connect(&stack.db.url).await?;
    let (body, reason): (String, String) = parley_testkit::sqlx::query_as(
        "SELECT body_snapshot, reason FROM persist.reports WHERE message_id = $1",
    )
    .bind(id)
    .fetch_one(&pool)
    .await?;
    assert_eq!(
        (body.as_str(), reason.as_str()),
        ("something nasty", "abuse")
    );
    Ok(())
}
