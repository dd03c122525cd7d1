//! `dedup::DedupStore` against a real DynamoDB stand-in (moto): claims, confirm, release,
//! leases, concurrent claims, object items, a missing table, batches past 100 keys, malformed
//! items. `now_s` is passed explicitly, so time is simulated, never waited for.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use guardduty_alerts::classify::SeverityLabel::{self, *};
use guardduty_alerts::state::*;
use support::*;

const TABLE: &str = "guardduty-alerts-dedup";
const NOW: u64 = 1_800_000_000;
const HOUR: u64 = 3600;
const LEASE: u64 = 900;

async fn dynamodb(moto: &Moto) -> Client {
    guardduty_alerts::app::aws::dynamodb_client(&sdk_config(&moto.endpoint))
}

/// moto, a client and a store over a fresh table with the default settings.
async fn setup() -> (Moto, Client, DedupStore) {
    let moto = Moto::start().await;
    let ddb = dynamodb(&moto).await;
    create_dedup_table(&ddb, TABLE).await;
    let store = DedupStore::new(ddb.clone(), DedupSettings::new(TABLE));
    (moto, ddb, store)
}

fn cand(key: &str, label: SeverityLabel, count: u64) -> Candidate {
    Candidate {
        key: key.to_owned(),
        label,
        severity: label.lower_bound() + 0.5,
        count,
    }
}

/// Whether it alerted, and the verdict; an error fails the test with its message.
fn verdict(o: &ClaimOutcome) -> (bool, Verdict) {
    match o {
        ClaimOutcome::Alert { verdict, .. } => (true, *verdict),
        ClaimOutcome::Skip(v) => (false, *v),
        ClaimOutcome::Error(e) => panic!("claim failed: {e}"),
    }
}

/// Claims one candidate at `now` (lease until now + 900): the verdict and the claim, if any.
async fn claim_one(store: &DedupStore, c: &Candidate, now: u64) -> (Verdict, Option<Claim>) {
    let mut out = store.claim(std::slice::from_ref(c), now + LEASE, now).await;
    assert_eq!(out.len(), 1);
    match out.pop().unwrap() {
        ClaimOutcome::Alert { verdict, claim } => (verdict, Some(claim)),
        ClaimOutcome::Skip(v) => (v, None),
        ClaimOutcome::Error(e) => panic!("claim failed: {e}"),
    }
}

/// Claims and confirms (as after a successful delivery); returns the verdict.
async fn alert_and_confirm(store: &DedupStore, c: &Candidate, now: u64) -> Verdict {
    let (v, claim) = claim_one(store, c, now).await;
    if let Some(claim) = claim {
        for r in store.confirm(&[claim]).await {
            r.expect("confirm");
        }
    }
    v
}

/// The raw item of a finding key.
async fn raw_item(ddb: &Client, key: &str) -> Option<HashMap<String, AttributeValue>> {
    ddb.get_item()
        .table_name(TABLE)
        .key("pk", AttributeValue::S(format!("finding#{key}")))
        .consistent_read(true)
        .send()
        .await
        .expect("GetItem")
        .item
}

fn num(item: &HashMap<String, AttributeValue>, name: &str) -> u64 {
    item[name].as_n().expect(name).parse().expect(name)
}

#[tokio::test]
async fn first_claim_alerts_then_in_flight_then_duplicate_after_confirm() {
    let (_moto, ddb, store) = setup().await;
    let c = cand("111122223333/us-east-1/f1", High, 3);
    let (v, claim) = claim_one(&store, &c, NOW).await;
    assert_eq!(v, Verdict::New);
    let claim = claim.expect("a claim");
    assert_eq!(claim.key(), c.key);

    // The claimed item: the new state, a lease, no prev (never alerted before).
    let item = raw_item(&ddb, &c.key).await.expect("claimed item");
    assert_eq!(num(&item, "band"), 2);
    assert_eq!(num(&item, "count"), 3);
    assert_eq!(num(&item, "alerted_at"), NOW);
    assert_eq!(num(&item, "lease_until"), NOW + LEASE);
    assert_eq!(num(&item, "expires_at"), NOW + 30 * 24 * HOUR);
    assert!(!item.contains_key("prev"), "{item:?}");
    let claimed_ver = item["ver"].as_s().expect("ver").clone();

    // While the delivery is in flight, another claim of the same state does not alert.
    assert_eq!(
        claim_one(&store, &c, NOW + 5).await,
        (Verdict::InFlight, None)
    );

    for r in store.confirm(&[claim]).await {
        r.expect("confirm");
    }
    let item = raw_item(&ddb, &c.key).await.expect("confirmed item");
    assert!(!item.contains_key("lease_until") && !item.contains_key("prev"));
    assert_ne!(
        item["ver"].as_s().unwrap(),
        &claimed_ver,
        "confirm writes a new version"
    );

    assert_eq!(
        claim_one(&store, &c, NOW + 10).await,
        (Verdict::Duplicate { last_alert_s: NOW }, None)
    );
}

#[tokio::test]
async fn release_after_a_failed_delivery_lets_a_retry_alert_again() {
    let (_moto, ddb, store) = setup().await;
    let c = cand("111122223333/us-east-1/f2", Medium, 2);

    // Never alerted: release deletes the item, the retry is New again.
    let (v, claim) = claim_one(&store, &c, NOW).await;
    assert_eq!(v, Verdict::New);
    for r in store.release(&[claim.unwrap()]).await {
        r.expect("release");
    }
    assert!(raw_item(&ddb, &c.key).await.is_none(), "release deletes");
    assert_eq!(alert_and_confirm(&store, &c, NOW + 1).await, Verdict::New);

    // Alerted before: release restores that state, and the retry decides the same way.
    let high = cand(&c.key, High, 2);
    let (v, claim) = claim_one(&store, &high, NOW + 2).await;
    assert_eq!(v, Verdict::SeverityRose { from: Medium });
    let item = raw_item(&ddb, &c.key).await.unwrap();
    let AttributeValue::M(prev) = &item["prev"] else {
        panic!("prev is not a map: {item:?}")
    };
    assert_eq!(
        (
            num(prev, "band"),
            num(prev, "count"),
            num(prev, "alerted_at")
        ),
        (1, 2, NOW + 1)
    );
    for r in store.release(&[claim.unwrap()]).await {
        r.expect("release");
    }
    let item = raw_item(&ddb, &c.key).await.expect("restored item");
    assert_eq!(
        (
            num(&item, "band"),
            num(&item, "count"),
            num(&item, "alerted_at")
        ),
        (1, 2, NOW + 1)
    );
    assert!(!item.contains_key("lease_until") && !item.contains_key("prev"));
    assert_eq!(num(&item, "expires_at"), NOW + 1 + 30 * 24 * HOUR);
    assert_eq!(
        alert_and_confirm(&store, &high, NOW + 3).await,
        Verdict::SeverityRose { from: Medium }
    );

    // Releasing a claim someone else has taken over since is reported, and undoes nothing.
    let (_, stale) = claim_one(&store, &cand(&c.key, Critical, 2), NOW + 4).await;
    let stale = stale.expect("claim");
    let (v, _) = claim_one(&store, &cand(&c.key, Critical, 2), NOW + 4 + LEASE).await;
    assert_eq!(v, Verdict::SeverityRose { from: High }, "expired lease");
    let errs = store.release(std::slice::from_ref(&stale)).await;
    let err = errs[0].as_ref().expect_err("lease lost");
    assert_eq!(err.kind, DedupErrorKind::LeaseLost);
    assert!(err.to_string().contains("taken over"), "{err}");
    let err = store
        .confirm(&[stale])
        .await
        .pop()
        .unwrap()
        .expect_err("lost");
    assert_eq!(err.kind, DedupErrorKind::LeaseLost);
}

#[tokio::test]
async fn band_rise_count_factor_and_re_alert_interval() {
    let (moto, _ddb, store) = setup().await;
    let k = "111122223333/us-east-1/f3";
    let mut t = NOW;
    let mut step = |c: Candidate, dt: u64| {
        t += dt;
        (c, t)
    };
    let cases = [
        (step(cand(k, Medium, 4), 0), Verdict::New),
        (
            step(cand(k, Medium, 7), 60),
            Verdict::Duplicate { last_alert_s: NOW },
        ),
        (step(cand(k, Medium, 8), 60), Verdict::CountGrew { from: 4 }),
        (
            step(cand(k, Low, 15), 60),
            Verdict::Duplicate {
                last_alert_s: NOW + 120,
            },
        ),
        (
            step(cand(k, High, 15), 60),
            Verdict::SeverityRose { from: Medium },
        ),
        (
            step(cand(k, Medium, 15), 24 * HOUR - 1),
            Verdict::Duplicate {
                last_alert_s: NOW + 240,
            },
        ),
        (
            step(cand(k, Medium, 15), 1),
            Verdict::IntervalPassed {
                last_alert_s: NOW + 240,
            },
        ),
        // The band last alerted is now Medium: High is a rise again.
        (
            step(cand(k, High, 15), 60),
            Verdict::SeverityRose { from: Medium },
        ),
    ];
    for ((c, now), want) in cases {
        let got = alert_and_confirm(&store, &c, now).await;
        assert_eq!(got, want, "{c:?} at NOW+{}", now - NOW);
    }

    // Other settings: factor 1.5, re-alert after 1 hour.
    let s = DedupSettings {
        count_factor: 1.5,
        realert_after: Duration::from_secs(HOUR),
        ..DedupSettings::new(TABLE)
    };
    let store = DedupStore::new(dynamodb(&moto).await, s);
    let k = "111122223333/us-east-1/f3b";
    assert_eq!(
        alert_and_confirm(&store, &cand(k, Low, 2), NOW).await,
        Verdict::New
    );
    assert_eq!(
        alert_and_confirm(&store, &cand(k, Low, 3), NOW + 1).await,
        Verdict::CountGrew { from: 2 }
    );
    assert_eq!(
        alert_and_confirm(&store, &cand(k, Low, 3), NOW + 1 + HOUR).await,
        Verdict::IntervalPassed {
            last_alert_s: NOW + 1
        }
    );
}

#[tokio::test]
async fn an_unexpired_lease_is_in_flight_an_expired_one_alerts() {
    let (_moto, ddb, store) = setup().await;
    // Never alerted; the invocation dies after claiming (no confirm, no release).
    let c = cand("111122223333/us-east-1/f4", High, 1);
    let (v, _crashed) = claim_one(&store, &c, NOW).await;
    assert_eq!(v, Verdict::New);
    assert_eq!(
        claim_one(&store, &c, NOW + LEASE - 1).await.0,
        Verdict::InFlight
    );
    let (v, claim) = claim_one(&store, &c, NOW + LEASE).await;
    assert_eq!(v, Verdict::New, "the crashed claim counts as not alerted");
    store.confirm(&[claim.unwrap()]).await[0]
        .as_ref()
        .expect("confirm");

    // Alerted before; a rise is claimed and the invocation dies: the earlier state decides.
    let t = NOW + LEASE;
    let crit = cand(&c.key, Critical, 1);
    let (v, _crashed) = claim_one(&store, &crit, t + 10).await;
    assert_eq!(v, Verdict::SeverityRose { from: High });
    assert_eq!(claim_one(&store, &crit, t + 20).await.0, Verdict::InFlight);
    let (v, claim) = claim_one(&store, &crit, t + 10 + LEASE).await;
    assert_eq!(v, Verdict::SeverityRose { from: High });
    // The new claim keeps the state before the crashed one as its previous state.
    let item = raw_item(&ddb, &c.key).await.unwrap();
    let AttributeValue::M(prev) = &item["prev"] else {
        panic!("{item:?}")
    };
    assert_eq!((num(prev, "band"), num(prev, "alerted_at")), (2, t));
    store.release(&[claim.unwrap()]).await[0]
        .as_ref()
        .expect("release");
    // Released: the state before both claims is back (High at t), so High is a duplicate.
    assert_eq!(
        claim_one(&store, &cand(&c.key, High, 1), t + 20 + LEASE)
            .await
            .0,
        Verdict::Duplicate { last_alert_s: t }
    );
}

#[tokio::test]
async fn two_concurrent_claims_alert_exactly_once() {
    let (moto, _ddb, a) = setup().await;
    let b = DedupStore::new(dynamodb(&moto).await, DedupSettings::new(TABLE));
    for round in 0..20 {
        let key = format!("111122223333/us-east-1/race-{round}");
        let c = cand(&key, High, 5);
        let want_alert = if round % 2 == 1 {
            // Odd rounds: an existing item (alerted as Medium), both see the same rise.
            let medium = cand(&key, Medium, 5);
            assert_eq!(alert_and_confirm(&a, &medium, NOW - 60).await, Verdict::New);
            Verdict::SeverityRose { from: Medium }
        } else {
            Verdict::New
        };
        let one = std::slice::from_ref(&c);
        let (ra, rb) = tokio::join!(
            a.claim(one, NOW + LEASE, NOW),
            b.claim(one, NOW + LEASE, NOW)
        );
        let got = [verdict(&ra[0]), verdict(&rb[0])];
        let alerts: Vec<_> = got.iter().filter(|(alert, _)| *alert).collect();
        assert_eq!(alerts.len(), 1, "round {round}: {got:?}");
        assert_eq!(alerts[0].1, want_alert, "round {round}");
        assert!(
            got.contains(&(false, Verdict::InFlight)),
            "round {round}: {got:?}"
        );
    }
}

#[tokio::test]
async fn a_key_twice_in_one_call_alerts_once() {
    let (_moto, _ddb, store) = setup().await;
    let c = cand("111122223333/us-east-1/twice", Medium, 1);
    let out = store.claim(&[c.clone(), c.clone()], NOW + LEASE, NOW).await;
    let got: Vec<_> = out.iter().map(verdict).collect();
    assert_eq!(got.iter().filter(|(alert, _)| *alert).count(), 1, "{got:?}");
    assert!(got.contains(&(true, Verdict::New)), "{got:?}");
    assert!(got.contains(&(false, Verdict::InFlight)), "{got:?}");
}

#[tokio::test]
async fn a_batch_of_250_crosses_the_batch_get_limit() {
    let (_moto, _ddb, store) = setup().await;
    let cands: Vec<Candidate> = (0..250)
        .map(|i| cand(&format!("111122223333/eu-west-1/batch-{i:03}"), Medium, 1))
        .collect();
    let out = store.claim(&cands, NOW + LEASE, NOW).await;
    assert_eq!(out.len(), 250);
    let mut claims = Vec::new();
    for (o, c) in out.into_iter().zip(&cands) {
        match o {
            ClaimOutcome::Alert { verdict, claim } => {
                assert_eq!(verdict, Verdict::New);
                assert_eq!(claim.key(), c.key, "outcomes in candidate order");
                claims.push(claim);
            }
            other => panic!("{}: {other:?}", c.key),
        }
    }
    let confirmed = store.confirm(&claims).await;
    assert_eq!(confirmed.len(), 250);
    assert!(confirmed.iter().all(Result::is_ok), "{confirmed:?}");
    let out = store.claim(&cands, NOW + 60 + LEASE, NOW + 60).await;
    assert_eq!(out.len(), 250);
    for o in &out {
        assert_eq!(
            verdict(o),
            (false, Verdict::Duplicate { last_alert_s: NOW })
        );
    }
}

#[tokio::test]
async fn objects_are_marked_done() {
    let (_moto, _ddb, store) = setup().await;
    let id = object_id(
        "exports",
        "AWSLogs/111122223333/GuardDuty/us-east-1/2026/11/26/a.jsonl.gz",
        "\"9b2cf535f27731c974343645a3985328\"",
    );
    assert_eq!(store.object_done(&id).await.expect("object_done"), None);
    store
        .mark_object_done(&id, NOW)
        .await
        .expect("mark_object_done");
    assert_eq!(
        store.object_done(&id).await.expect("object_done"),
        Some(NOW)
    );
    let other_version = id.replace("9b2c", "0000");
    assert_eq!(store.object_done(&other_version).await.unwrap(), None);
    // Object items and finding items share the table without clashing.
    let c = cand(&id, Low, 1);
    assert_eq!(claim_one(&store, &c, NOW).await.0, Verdict::New);
}

#[tokio::test]
async fn a_malformed_item_alerts_and_is_replaced() {
    let (_moto, ddb, store) = setup().await;
    let put = |key: &str, members: Vec<(&str, AttributeValue)>| {
        let mut req = ddb
            .put_item()
            .table_name(TABLE)
            .item("pk", AttributeValue::S(format!("finding#{key}")));
        for (k, v) in members {
            req = req.item(k, v);
        }
        req.send()
    };
    let n = |v: &str| AttributeValue::N(v.to_owned());
    // No version, a band of the wrong type.
    put(
        "a/b/no-ver",
        vec![
            ("band", AttributeValue::S("High".into())),
            ("count", n("3")),
        ],
    )
    .await
    .expect("PutItem");
    // A version, but the lease is not a number.
    put(
        "a/b/bad-lease",
        vec![
            ("band", n("1")),
            ("severity", n("5")),
            ("count", n("1")),
            ("alerted_at", n("1")),
            ("expires_at", n("9999999999")),
            ("ver", AttributeValue::S("v0".into())),
            ("lease_until", AttributeValue::S("soon".into())),
        ],
    )
    .await
    .expect("PutItem");
    for key in ["a/b/no-ver", "a/b/bad-lease"] {
        let c = cand(key, Medium, 1);
        assert_eq!(
            alert_and_confirm(&store, &c, NOW).await,
            Verdict::New,
            "{key}"
        );
        assert_eq!(
            claim_one(&store, &c, NOW + 1).await.0,
            Verdict::Duplicate { last_alert_s: NOW },
            "{key}: replaced by a readable item"
        );
    }
}

#[tokio::test]
async fn a_missing_table_is_an_error_naming_it() {
    let moto = Moto::start().await;
    let store = DedupStore::new(dynamodb(&moto).await, DedupSettings::new("no-such-table"));
    let out = store
        .claim(
            &[cand("a/b/c", High, 1), cand("a/b/d", High, 1)],
            NOW + LEASE,
            NOW,
        )
        .await;
    assert_eq!(out.len(), 2);
    for o in &out {
        assert!(o.alerts(), "fail open");
        let ClaimOutcome::Error(e) = o else {
            panic!("{o:?}")
        };
        assert_eq!(e.kind, DedupErrorKind::TableNotFound);
        assert_eq!(
            e.to_string(),
            "dedup table no-such-table: BatchGetItem failed: table no-such-table does not exist in \
             us-east-1: create it (partition key pk of type String, TTL on expires_at) or fix DEDUP_TABLE"
        );
    }
    let e = store.object_done("s3://b/k@v").await.expect_err("no table");
    assert_eq!(e.kind, DedupErrorKind::TableNotFound);
    assert!(e.to_string().starts_with("dedup table no-such-table: GetItem failed: table no-such-table does not exist in us-east-1"), "{e}");
    let e = store
        .mark_object_done("s3://b/k@v", NOW)
        .await
        .expect_err("no table");
    assert!(
        e.to_string()
            .contains("PutItem failed: table no-such-table does not exist"),
        "{e}"
    );
}
