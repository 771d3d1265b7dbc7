//! Messaging over real NATS, PostgreSQL and Redis, through the edge's HTTP and WebSocket.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use parley_testkit::Worker::{Delivery, Directory, Persist, Receipts};
use parley_testkit::{Stack, Ws};
use serde_json::{Value, json};
use uuid::Uuid;

fn is_new(v: &Value) -> bool {
    v["type"] == "message:new"
}

/// One sync's answer, up to `sync:done`: the seqs received per conversation, in order, and
/// the conversations announced as new. An `error` answering the sync fails the test.
async fn read_sync(ws: &mut Ws) -> anyhow::Result<(HashMap<String, Vec<u64>>, Vec<String>)> {
    let mut seqs: HashMap<String, Vec<u64>> = HashMap::new();
    let mut announced = Vec::new();
    loop {
        let v = ws
            .recv_until(|v| {
                matches!(
                    v["type"].as_str(),
                    Some("messages:offline" | "sync:done" | "conversation:updated" | "error")
                )
            })
            .await?;
        match v["type"].as_str() {
            Some("sync:done") => return Ok((seqs, announced)),
            Some("error") => anyhow::bail!("sync failed: {v}"),
            Some("conversation:updated") => {
                announced.extend(v["conversation"]["id"].as_str().map(String::from))
            }
            _ => {
                let msgs = v["messages"].as_array().cloned().unwrap_or_default();
                assert!(msgs.len() <= 50, "batches hold at most 50 messages");
                let conv = v["conversationId"].as_str().unwrap_or_default().to_string();
                seqs.entry(conv)
                    .or_default()
                    .extend(msgs.iter().filter_map(|m| m["seq"].as_u64()));
            }
        }
    }
}

#[tokio::test]
async fn two_users_chat_one_to_one() -> anyhow::Result<()> {
    let stack = Stack::with(&[Directory, Persist, Delivery, Receipts])
        .start()
        .await?;
    let api = stack.api();
    let (alice, bob, conv) = api.direct_pair().await?;
    // Opening the same pair again returns the same conversation.
    assert_eq!(
        api.conversation(&bob, "direct", &[&alice], None).await?,
        conv
    );

    let mut a = Ws::connect(&stack.edge_url(0), &alice.token).await?;
    let mut b = Ws::connect(&stack.edge_url(0), &bob.token).await?;
    let id = a.send_message(conv, "hello bob").await?;
    let ack = a.recv_type("ack").await?;
    assert_eq!(ack["ref"], id.to_string());
    assert_eq!(ack["status"], "accepted");
    let got = b.recv_until(is_new).await?;
    let m = &got["message"];
    assert_eq!(m["id"], id.to_string());
    assert_eq!(m["seq"], 1);
    assert_eq!(m["conversationId"], conv.to_string());
    assert_eq!(m["senderId"], alice.id.to_string());
    assert_eq!(m["body"], "hello bob");
    assert!(m["createdAt"].is_string());
    // The sender's own devices get it too, with its seq.
    assert_eq!(a.recv_until(is_new).await?["message"]["seq"], 1);

    b.send_message(conv, "hi alice").await?;
    assert_eq!(a.recv_until(is_new).await?["message"]["body"], "hi alice");

    // History, newest first, and the list shows last message + unread count.
    let (status, page) = api
        .call(
            "GET",
            &format!("/conversations/{conv}/messages?limit=50"),
            Some(&bob.token),
            None,
        )
        .await?;
    assert_eq!(status, 200);
    let bodies: Vec<String> = page["messages"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|m| m["body"].as_str().map(String::from))
        .collect();
    assert_eq!(bodies, vec!["hi alice", "hello bob"]);
    assert_eq!(page["hasMore"], false);
    let (_, list) = api
        .call("GET", "/conversations", Some(&bob.token), None)
        .await?;
    let c = &list["conversations"][0];
    assert_eq!(c["lastSeq"], 2);
    assert_eq!(c["lastMessage"]["preview"], "hi alice");
    assert_eq!(
        c["unreadCount"], 1,
        "alice's message is unread for bob; his own is not"
    );
    assert_eq!(c["members"].as_array().map(Vec::len), Some(2));
    Ok(())
}

#[tokio::test]
async fn rest_send_has_the_same_semantics() -> anyhow::Result<()> {
    let stack = Stack::with(&[Directory, Persist, Delivery]).start().await?;
    let api = stack.api();
    let (alice, bob, conv) = api.direct_pair().await?;
    let mut b = Ws::connect(&stack.edge_url(0), &bob.token).await?;
    let id = Uuid::now_v7();
    for _ in 0..2 {
        let (status, body) = api
            .call(
                "POST",
                &format!("/conversations/{conv}/messages"),
                Some(&alice.token),
                Some(json!({"id": id, "body": "via rest"})),
            )
            .await?;
        assert_eq!(status, 202, "{body}");
        assert_eq!(body["status"], "accepted");
    }
    assert_eq!(b.recv_until(is_new).await?["message"]["id"], id.to_string());
    let (_, page) = api
        .call(
            "GET",
            &format!("/conversations/{conv}/messages"),
            Some(&bob.token),
            None,
        )
        .await?;
    assert_eq!(
        page["messages"].as_array().map(Vec::len),
        Some(1),
        "a retried REST send stores one message"
    );
    Ok(())
}

#[tokio::test]
async fn group_of_five_sees_one_order_with_contiguous_seqs() -> anyhow::Result<()> {
    let stack = common::fast_stack(&[Directory, Persist, Delivery])
        .start()
        .await?;
    let api = stack.api();
    let mut users = Vec::new();
    for i in 0..5 {
        users.push(api.register(&format!("m{i}")).await?);
    }
    let others: Vec<_> = users[1..].iter().collect();
    let conv = api
        .conversation(&users[0], "group", &others, Some("five"))
        .await?;
    let mut sockets = Vec::new();
    for u in &users {
        sockets.push(Ws::connect(&stack.edge_url(0), &u.token).await?);
    }
    const EACH: usize = 20;
    // Everyone sends at once.
    let mut tasks = Vec::new();
    for (i, mut ws) in sockets.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            for n in 0..EACH {
                ws.send_message(conv, &format!("u{i} #{n}")).await?;
            }
            let mut seen = Vec::new();
            while seen.len() < 5 * EACH {
                let v = ws.recv_until(is_new).await?;
                seen.push((
                    v["message"]["seq"].as_u64().unwrap_or(0),
                    v["message"]["id"].as_str().unwrap_or("").to_string(),
                ));
            }
            anyhow::Ok(seen)
        }));
    }
    let mut views = Vec::new();
    for t in tasks {
        views.push(t.await??);
    }
    let mut reference = views[0].clone();
    reference.sort();
    let seqs: Vec<u64> = reference.iter().map(|(s, _)| *s).collect();
    assert_eq!(
        seqs,
        (1..=(5 * EACH) as u64).collect::<Vec<_>>(),
        "seqs are contiguous from 1"
    );
    for view in &views {
        let mut v = view.clone();
        v.sort();
        assert_eq!(
            v, reference,
            "every member sees the same seq → message mapping"
        );
    }
    Ok(())
}

#[tokio::test]
async fn the_same_id_three_times_is_one_message_even_across_reconnect() -> anyhow::Result<()> {
    let stack = Stack::with(&[Directory, Persist, Delivery]).start().await?;
    let api = stack.api();
    let (alice, bob, conv) = api.direct_pair().await?;
    let id = Uuid::now_v7();
    let frame = json!({"type": "message:send", "id": id, "conversationId": conv, "body": "once"});
    let mut a = Ws::connect(&stack.edge_url(0), &alice.token).await?;
    a.send(frame.clone()).await?;
    a.send(frame.clone()).await?;
    assert_eq!(a.recv_type("ack").await?["ref"], id.to_string());
    assert_eq!(a.recv_type("ack").await?["ref"], id.to_string());
    a.abort();
    let mut a = Ws::connect(&stack.edge_url(0), &alice.token).await?;
    a.send(frame).await?;
    assert_eq!(a.recv_type("ack").await?["ref"], id.to_string());
    a.send_message(conv, "marker").await?;
    a.recv_until(|v| is_new(v) && v["message"]["body"] == "marker")
        .await?;
    let (_, page) = api
        .call(
            "GET",
            &format!("/conversations/{conv}/messages"),
            Some(&bob.token),
            None,
        )
        .await?;
    let seqs: Vec<u64> = page["messages"]
        .as_array()
        .map(|a| a.iter().filter_map(|m| m["seq"].as_u64()).collect())
        .unwrap_or_default();
    assert_eq!(
        seqs,
        vec![2, 1],
        "three sends of one id are one message with one seq"
    );
    Ok(())
}

#[tokio::test]
async fn history_pages_by_keyset() -> anyhow::Result<()> {
    let stack = common::fast_stack(&[Directory, Persist, Delivery])
        .start()
        .await?;
    let api = stack.api();
    let (alice, bob, conv) = api.direct_pair().await?;
    let mut a = Ws::connect(&stack.edge_url(0), &alice.token).await?;
    for i in 0..120 {
        a.send_message(conv, &format!("m{i}")).await?;
    }
    a.recv_until(|v| is_new(v) && v["message"]["seq"] == 120)
        .await?;
    let mut before: Option<u64> = None;
    let mut all = Vec::new();
    loop {
        let q = before.map(|b| format!("&before={b}")).unwrap_or_default();
        let (status, page) = api
            .call(
                "GET",
                &format!("/conversations/{conv}/messages?limit=50{q}"),
                Some(&bob.token),
                None,
            )
            .await?;
        assert_eq!(status, 200);
        let msgs = page["messages"].as_array().cloned().unwrap_or_default();
        all.extend(msgs.iter().filter_map(|m| m["seq"].as_u64()));
        if page["hasMore"] != true {
            assert!(page["nextCursor"].is_null());
            break;
        }
        before = page["nextCursor"].as_u64();
    }
    assert_eq!(all, (1..=120).rev().collect::<Vec<u64>>());
    Ok(())
}

#[tokio::test]
async fn reconnect_sync_fills_a_gap_of_500_in_order() -> anyhow::Result<()> {
    let stack = common::fast_stack(&[Directory, Persist, Delivery])
        .start()
        .await?;
    let api = stack.api();
    let (alice, bob, conv) = api.direct_pair().await?;
    let mut b = Ws::connect(&stack.edge_url(0), &bob.token).await?;
    let mut a = Ws::connect(&stack.edge_url(0), &alice.token).await?;
    a.send_message(conv, "before the gap").await?;
    assert_eq!(b.recv_until(is_new).await?["message"]["seq"], 1);
    b.abort();
    for i in 0..500 {
        a.send_message(conv, &format!("gap {i}")).await?;
    }
    a.recv_until(|v| is_new(v) && v["message"]["seq"] == 501)
        .await?;
    // A group Bob was added to while away: he does not know it yet.
    let carol = api.register("carol").await?;
    let group = api
        .conversation(&alice, "group", &[&bob, &carol], Some("new"))
        .await?;
    a.send_message(group, "welcome").await?;
    a.recv_until(|v| is_new(v) && v["message"]["conversationId"] == group.to_string())
        .await?;

    let mut b = Ws::connect(&stack.edge_url(0), &bob.token).await?;
    b.send(json!({"type": "sync", "cursors": {conv.to_string(): 1}}))
        .await?;
    let (seqs, announced) = read_sync(&mut b).await?;
    assert_eq!(
        seqs.get(&conv.to_string()),
        Some(&(2..=501).collect::<Vec<u64>>()),
        "every missing message, in order, no duplicates"
    );
    assert!(
        announced.contains(&group.to_string()),
        "an unknown conversation is announced"
    );
    assert_eq!(seqs.get(&group.to_string()), Some(&vec![1]));
    Ok(())
}

#[tokio::test]
async fn edits_deletes_and_reactions_are_sequenced_events() -> anyhow::Result<()> {
    let stack = Stack::with(&[Directory, Persist, Delivery]).start().await?;
    let api = stack.api();
    let (alice, bob, conv) = api.direct_pair().await?;
    let mut a = Ws::connect(&stack.edge_url(0), &alice.token).await?;
    let mut b = Ws::connect(&stack.edge_url(0), &bob.token).await?;
    let mid = a.send_message(conv, "tpyo").await?;
    b.recv_until(is_new).await?;
    a.send(json!({"type": "message:edit", "id": Uuid::now_v7(), "conversationId": conv, "messageId": mid, "body": "typo"})).await?;
    let up = b.recv_type("message:updated").await?;
    assert_eq!(up["seq"], 2);
    assert_eq!(up["message"]["body"], "typo");
    assert!(up["message"]["editedAt"].is_string());
    // Bob may not edit Alice's message: persist refuses and tells him.
    let bad = Uuid::now_v7();
    b.send(json!({"type": "message:edit", "id": bad, "conversationId": conv, "messageId": mid, "body": "hijack"})).await?;
    let err = b
        .recv_until(|v| v["type"] == "error" && v["ref"] == bad.to_string())
        .await?;
    assert_eq!(err["code"], "forbidden");
    b.send(json!({"type": "reaction:add", "id": Uuid::now_v7(), "conversationId": conv, "messageId": mid, "emoji": "👍"})).await?;
    let r = a
        .recv_until(|v| v["type"] == "message:updated" && v["seq"] == 3)
        .await?;
    assert_eq!(r["message"]["reactions"][0]["emoji"], "👍");
    assert_eq!(
        r["message"]["reactions"][0]["userIds"][0],
        bob.id.to_string()
    );
    let reply = Uuid::now_v7();
    b.send(json!({"type": "message:send", "id": reply, "conversationId": conv, "body": "re", "replyTo": mid, "mentions": [alice.id]})).await?;
    let m = a
        .recv_until(|v| is_new(v) && v["message"]["id"] == reply.to_string())
        .await?;
    assert_eq!(m["message"]["replyTo"]["preview"], "typo");
    assert_eq!(m["message"]["mentions"][0], alice.id.to_string());
    a.send(json!({"type": "message:delete", "id": Uuid::now_v7(), "conversationId": conv, "messageId": mid})).await?;
    let d = b.recv_type("message:deleted").await?;
    assert_eq!(d["messageId"], mid.to_string());
    // History shows the current state.
    let (_, page) = api
        .call(
            "GET",
            &format!("/conversations/{conv}/messages"),
            Some(&bob.token),
            None,
        )
        .await?;
    let first = page["messages"]
        .as_array()
        .and_then(|a| a.iter().find(|m| m["id"] == mid.to_string()).cloned())
        .unwrap_or_default();
    assert_eq!(first["deleted"], true);
    assert_eq!(first["body"], "");
    // A device that was offline replays all of it through sync.
    let mut b2 = Ws::connect(&stack.edge_url(0), &bob.token).await?;
    b2.send(json!({"type": "sync", "cursors": {conv.to_string(): 1}}))
        .await?;
    let batch = b2.recv_type("messages:offline").await?;
    assert_eq!(batch["lastSeq"], 5);
    assert_eq!(batch["updates"][0]["id"], mid.to_string());
    assert_eq!(batch["updates"][0]["deleted"], true);
    Ok(())
}

#[tokio::test]
async fn multi_device_users_get_every_event_on_each_device() -> anyhow::Result<()> {
    let stack = Stack::with(&[Directory, Persist, Delivery])
        .edges(2)
        .start()
        .await?;
    let api = stack.api();
    let (alice, bob, conv) = api.direct_pair().await?;
    let mut phone = Ws::connect(&stack.edge_url(0), &bob.token).await?;
    let mut laptop = Ws::connect(&stack.edge_url(1), &bob.token).await?;
    let mut a = Ws::connect(&stack.edge_url(1), &alice.token).await?;
    let id = a.send_message(conv, "to all your devices").await?;
    for dev in [&mut phone, &mut laptop] {
        assert_eq!(
            dev.recv_until(is_new).await?["message"]["id"],
            id.to_string()
        );
    }
    Ok(())
}

#[tokio::test]
async fn typing_is_throttled_routed_to_members_and_stopped_when_the_socket_drops()
-> anyhow::Result<()> {
    let stack = Stack::with(&[Directory, Persist, Delivery]).start().await?;
    let api = stack.api();
    let (alice, bob, eve) = (
        api.register("alice").await?,
        api.register("bob").await?,
        api.register("eve").await?,
    );
    let carol = api.register("carol").await?;
    let group = api
        .conversation(&alice, "group", &[&bob, &carol], Some("g"))
        .await?;
    let mut a = Ws::connect(&stack.edge_url(0), &alice.token).await?;
    let mut b = Ws::connect(&stack.edge_url(0), &bob.token).await?;
    let mut c = Ws::connect(&stack.edge_url(0), &carol.token).await?;
    let typing = |v: &Value| v["type"] == "typing";
    a.send(json!({"type": "typing:start", "conversationId": group}))
        .await?;
    a.send(json!({"type": "typing:start", "conversationId": group}))
        .await?;
    c.send(json!({"type": "typing:start", "conversationId": group}))
        .await?;
    // Bob sees both typers (group typing shows several).
    let first = b.recv_until(typing).await?;
    let second = b.recv_until(typing).await?;
    let mut typers = vec![
        first["userId"].as_str().unwrap_or("").to_string(),
        second["userId"].as_str().unwrap_or("").to_string(),
    ];
    typers.sort();
    let mut want = vec![alice.id.to_string(), carol.id.to_string()];
    want.sort();
    assert_eq!(typers, want);
    assert_eq!(first["state"], "start");
    // The second start within a second was throttled away.
    assert!(
        !b.sees_within(Duration::from_millis(300), typing).await,
        "no third typing frame"
    );
    // Alice's socket dies without typing:stop: members are told she stopped.
    a.abort();
    let stop = b.recv_until(typing).await?;
    assert_eq!(
        (stop["userId"].as_str(), stop["state"].as_str()),
        (Some(alice.id.to_string().as_str()), Some("stop"))
    );
    // A non-member cannot type into the conversation.
    let mut e = Ws::connect(&stack.edge_url(0), &eve.token).await?;
    e.send(json!({"type": "typing:start", "conversationId": group}))
        .await?;
    assert_eq!(e.recv_type("error").await?["code"], "not_member");
    Ok(())
}

#[tokio::test]
async fn syncs_beyond_the_catch_up_slots_wait_their_turn_and_all_complete() -> anyhow::Result<()> {
    // One slot: every sync but one waits, none fails, and each gets exactly its own gap.
    let stack = Stack::with(&[Directory, Persist, Delivery])
        .env(&[("PARLEY_CATCHUP_CONCURRENCY", "1")])
        .start()
        .await?;
    let api = stack.api();
    let mut pairs = Vec::new();
    for _ in 0..6 {
        let (alice, bob, conv) = api.direct_pair().await?;
        let mut a = Ws::connect(&stack.edge_url(0), &alice.token).await?;
        for i in 0..12 {
            a.send_message(conv, &format!("m{i}")).await?;
        }
        a.recv_until(|v| is_new(v) && v["message"]["seq"] == 12)
            .await?;
        pairs.push((bob, conv));
    }
    let mut sockets = Vec::new();
    for (bob, conv) in &pairs {
        let mut b = Ws::connect(&stack.edge_url(0), &bob.token).await?;
        b.send(json!({"type": "sync", "cursors": {conv.to_string(): 3}}))
            .await?;
        sockets.push((b, *conv));
    }
    for (mut b, conv) in sockets {
        let (seqs, _) = read_sync(&mut b).await?;
        assert_eq!(seqs.len(), 1, "only the synced conversation: {seqs:?}");
        assert_eq!(seqs.get(&conv.to_string()), Some(&(4..=12).collect()));
    }
    Ok(())
}
