//! The typed view of a GuardDuty finding that the product uses.
//!
//! A finding is parsed from one line of an export into [`Finding`], which *borrows* the few
//! fields the product reads from the line and lets serde skip everything else. The raw line is
//! kept by the caller for forwarding, so nothing is lost by modelling so little.
//!
//! Real exports are messy (see `shared/docs/guardduty-export.md`): members are `null`, the
//! `resource` is missing, timestamps are ISO strings in one place and epoch numbers in another,
//! numbers arrive as strings. Every member here is therefore *lenient*: a value of an unexpected
//! JSON type reads as absent instead of rejecting the whole finding. Only `id`, `type` and
//! `severity` are required (see [`Finding::parse`]).

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

mod scan;

/// A string-ish member: a JSON string (borrowed when it has no escapes), or a number or boolean
/// rendered as text. `null`, objects and arrays read as absent.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Text<'a>(pub Option<Cow<'a, str>>);

impl<'a> Text<'a> {
    /// The text, if present and not empty.
    pub fn get(&self) -> Option<&str> {
        self.0.as_deref().filter(|s| !s.is_empty())
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Owned(v.to_owned()))))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Owned(v))))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Borrowed(if v { "true" } else { "false" }))))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Text(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Text(None))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                d.deserialize_any(self)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Text(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Text(None))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// A number-ish member: a JSON number, or a string holding one. Anything else reads as absent.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Num(pub Option<f64>);

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Num;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Num, E> {
                Ok(Num(Some(v as f64)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Num, E> {
                Ok(Num(Some(v as f64)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Num, E> {
                Ok(Num(Some(v).filter(|v| v.is_finite())))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Num, E> {
                Ok(Num(v.trim().parse::<f64>().ok().filter(|v| v.is_finite())))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Num, E> {
                Ok(Num(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Num, E> {
                Ok(Num(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<Num, E> {
                Ok(Num(None))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Num, D::Error> {
                d.deserialize_any(self)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Num, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Num(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Num, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Num(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// A boolean-ish member: `true`/`false`, or the strings `"true"`/`"false"`. Anything else is
/// `false`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Flag(pub bool);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let t: Text<'_> = Text::deserialize(d)?;
        Ok(Flag(
            t.0.as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case("true")),
        ))
    }
}

/// An object (or array) member that reads as absent when the JSON holds another type, such as
/// `null`, a string or a number.
#[derive(Debug, Clone, PartialEq)]
pub struct Lenient<T>(pub Option<T>);

impl<T> Default for Lenient<T> {
    fn default() -> Self {
        Lenient(None)
    }
}

impl<T> Lenient<T> {
    /// The value, if present.
    pub fn get(&self) -> Option<&T> {
        self.0.as_ref()
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Lenient<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object or array")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map)).map(|v| Lenient(Some(v)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                T::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(|v| Lenient(Some(v)))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                d.deserialize_any(self)
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Lenient(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Lenient(None))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Lenient(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Lenient(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Lenient(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Lenient(None))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(Lenient(None))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// A list whose elements of an unexpected type are skipped.
pub type List<T> = Lenient<Vec<Lenient<T>>>;

/// Iterates the present elements of a [`List`].
pub fn items<T>(list: &List<T>) -> impl Iterator<Item = &T> {
    list.get().into_iter().flatten().filter_map(Lenient::get)
}

/// A resource tag (`{"key": .., "value": ..}`).
#[derive(Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
#[allow(missing_docs)]
pub struct Tag<'a> {
    #[serde(borrow)]
    pub key: Text<'a>,
    #[serde(borrow)]
    pub value: Text<'a>,
}

/// One GuardDuty finding, as much of it as the product reads.
#[derive(Debug, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct Finding<'a> {
    #[serde(borrow)]
    pub id: Text<'a>,
    #[serde(rename = "type", borrow)]
    pub finding_type: Text<'a>,
    pub severity: Num,
    #[serde(borrow)]
    pub account_id: Text<'a>,
    #[serde(borrow)]
    pub region: Text<'a>,
    #[serde(borrow)]
    pub partition: Text<'a>,
    #[serde(borrow)]
    pub arn: Text<'a>,
    #[serde(borrow)]
    pub title: Text<'a>,
    #[serde(borrow)]
    pub created_at: Text<'a>,
    #[serde(borrow)]
    pub updated_at: Text<'a>,
    #[serde(borrow)]
    pub resource: Lenient<Resource<'a>>,
    #[serde(borrow)]
    pub service: Lenient<Service<'a>>,
}

/// `resource`: what the finding is about.
#[derive(Debug, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct Resource<'a> {
    #[serde(borrow)]
    pub resource_type: Text<'a>,
    #[serde(borrow)]
    pub instance_details: Lenient<InstanceDetails<'a>>,
    #[serde(borrow)]
    pub access_key_details: Lenient<AccessKeyDetails<'a>>,
    #[serde(borrow)]
    pub s3_bucket_details: List<S3BucketDetails<'a>>,
    #[serde(borrow)]
    pub eks_cluster_details: Lenient<ClusterDetails<'a>>,
    #[serde(borrow)]
    pub kubernetes_details: Lenient<KubernetesDetails<'a>>,
    #[serde(borrow)]
    pub ecs_cluster_details: Lenient<ClusterDetails<'a>>,
    #[serde(borrow)]
    pub container_details: Lenient<ContainerDetails<'a>>,
    #[serde(borrow)]
    pub rds_db_instance_details: Lenient<RdsDbInstanceDetails<'a>>,
    #[serde(borrow)]
    pub lambda_details: Lenient<LambdaDetails<'a>>,
}

/// `resource.instanceDetails`.
#[derive(Debug, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct InstanceDetails<'a> {
    #[serde(borrow)]
    pub instance_id: Text<'a>,
    #[serde(borrow)]
    pub tags: List<Tag<'a>>,
}

/// `resource.accessKeyDetails`.
#[derive(Debug, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct AccessKeyDetails<'a> {
    #[serde(borrow)]
    pub access_key_id: Text<'a>,
    #[serde(borrow)]
    pub principal_id: Text<'a>,
    #[serde(borrow)]
    pub user_name: Text<'a>,
    #[serde(borrow)]
    pub user_type: Text<'a>,
}

/// One element of `resource.s3BucketDetails`.
#[derive(Debug, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct S3BucketDetails<'a> {
    #[serde(borrow)]
    pub name: Text<'a>,
    #[serde(borrow)]
    pub tags: List<Tag<'a>>,
}

/// `resource.eksClusterDetails` and `resource.ecsClusterDetails`.
#[derive(Debug, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct ClusterDetails<'a> {
    #[serde(borrow)]
    pub name: Text<'a>,
    #[serde(borrow)]
    pub tags: List<Tag<'a>>,
}

/// `resource.kubernetesDetails`.
#[derive(Debug, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct KubernetesDetails<'a> {
    #[serde(borrow)]
    pub kubernetes_workload_details: Lenient<KubernetesWorkload<'a>>,
}

/// `resource.kubernetesDetails.kubernetesWorkloadDetails`.
#[derive(Debug, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct KubernetesWorkload<'a> {
    #[serde(borrow)]
    pub name: Text<'a>,
    #[serde(borrow)]
    pub namespace: Text<'a>,
}

/// `resource.containerDetails`.
#[derive(Debug, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct ContainerDetails<'a> {
    #[serde(borrow)]
    pub id: Text<'a>,
    #[serde(borrow)]
    pub name: Text<'a>,
    #[serde(borrow)]
    pub image: Text<'a>,
}

/// `resource.rdsDbInstanceDetails`.
#[derive(Debug, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct RdsDbInstanceDetails<'a> {
    #[serde(borrow)]
    pub db_instance_identifier: Text<'a>,
    #[serde(borrow)]
    pub db_cluster_identifier: Text<'a>,
    #[serde(borrow)]
    pub engine: Text<'a>,
    #[serde(borrow)]
    pub tags: List<Tag<'a>>,
}

/// `resource.lambdaDetails`.
#[derive(Debug, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct LambdaDetails<'a> {
    #[serde(borrow)]
    pub function_name: Text<'a>,
    #[serde(borrow)]
    pub tags: List<Tag<'a>>,
}

/// `service`: how GuardDuty saw it.
#[derive(Debug, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct Service<'a> {
    #[serde(borrow)]
    pub action: Lenient<Action<'a>>,
    pub archived: Flag,
    pub count: Num,
    #[serde(borrow)]
    pub event_first_seen: Text<'a>,
    #[serde(borrow)]
    pub event_last_seen: Text<'a>,
    #[serde(borrow)]
    pub additional_info: Lenient<AdditionalInfo<'a>>,
    #[serde(borrow)]
    pub feature_name: Text<'a>,
}

/// `service.action`: only its type is read.
#[derive(Debug, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct Action<'a> {
    #[serde(borrow)]
    pub action_type: Text<'a>,
}

/// `service.additionalInfo`: where sample findings are marked.
#[derive(Debug, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct AdditionalInfo<'a> {
    pub sample: Flag,
    /// Newer exports repeat `additionalInfo` as a JSON *string* here.
    #[serde(borrow)]
    pub value: Text<'a>,
}

/// Why a line of an export is not a finding the product can use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Not valid JSON (the detail says where).
    InvalidJson(String),
    /// Valid JSON, but not a GuardDuty finding (the detail says what is missing).
    NotAFinding(String),
}

impl<'a> Finding<'a> {
    /// Parses one line of an export. The line must be one JSON object with at least a string
    /// `id`, a string `type` and a numeric `severity`; everything else is optional.
    pub fn parse(line: &'a str) -> Result<Finding<'a>, ParseError> {
        let trimmed = line.trim_start();
        if !trimmed.starts_with('{') {
            return Err(match serde_json::from_str::<IgnoredAny>(line) {
                Ok(_) => ParseError::NotAFinding("the line is JSON but not an object".into()),
                Err(e) => ParseError::InvalidJson(e.to_string()),
            });
        }
        // The fast path answers for plain lines; serde_json decides every other one (and
        // words every error).
        let finding = match scan::finding(line) {
            Some(finding) => finding,
            None => Self::parse_with_serde(line)?,
        };
        let mut missing = Vec::new();
        if finding.id.get().is_none() {
            missing.push("id");
        }
        if finding.finding_type.get().is_none() {
            missing.push("type");
        }
        if finding.severity.0.is_none() {
            missing.push("severity");
        }
        if !missing.is_empty() {
            return Err(ParseError::NotAFinding(format!(
                "no {} (a GuardDuty finding has id, type and a numeric severity)",
                missing.join(", ")
            )));
        }
        Ok(finding)
    }

    /// The whole line through serde_json (the reference the fast path is tested against).
    fn parse_with_serde(line: &'a str) -> Result<Finding<'a>, ParseError> {
        serde_json::from_str(line).map_err(|e| {
            if e.is_data() {
                ParseError::NotAFinding(e.to_string())
            } else {
                ParseError::InvalidJson(e.to_string())
            }
        })
    }

    /// The finding id (never empty after [`Finding::parse`]).
    pub fn id(&self) -> &str {
        self.id.get().unwrap_or_default()
    }

    /// The finding type string, e.g. `Recon:EC2/PortProbeUnprotectedPort`.
    pub fn type_str(&self) -> &str {
        self.finding_type.get().unwrap_or_default()
    }

    /// The numeric severity (0 if absent, which [`Finding::parse`] does not allow).
    pub fn severity(&self) -> f64 {
        self.severity.0.unwrap_or_default()
    }

    /// `service`, if present.
    pub fn service(&self) -> Option<&Service<'a>> {
        self.service.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    enum Want {
        Finding,
        InvalidJson,
        NotAFinding,
    }

    #[test]
    fn parse_table() {
        use Want::*;
        let cases = [
            (r#"{"id":"a","type":"T:R/F","severity":5}"#, Finding),
            (r#"{"id":"a","type":"T:R/F","severity":"5.5"}"#, Finding),
            (
                r#"{"id":"a","type":"T:R/F","severity":5,"resource":null,"service":null}"#,
                Finding,
            ),
            (
                r#"{"id":"a","type":"T:R/F","severity":5,"resource":"x","service":[1]}"#,
                Finding,
            ),
            (r#"{"findings":[]}"#, NotAFinding),
            (r#"[1,2,3]"#, NotAFinding),
            (r#"["a","T",5]"#, NotAFinding),
            (r#""text""#, NotAFinding),
            (r#"{"id":"a","type":"T:R/F"}"#, NotAFinding),
            (
                r#"{"id":"a","type":"T:R/F","severity":"high"}"#,
                NotAFinding,
            ),
            (r#"{"id":"","type":"T:R/F","severity":1}"#, NotAFinding),
            (r#"{"id":"a","type":"#, InvalidJson),
            (r#"{"id":"a"} trailing"#, InvalidJson),
            (r#"not json"#, InvalidJson),
            (
                r#"{"id":"a","id":"b","type":"T","severity":1}"#,
                NotAFinding,
            ),
        ];
        for (line, want) in cases {
            let got = match super::Finding::parse(line) {
                Ok(_) => Finding,
                Err(ParseError::InvalidJson(_)) => InvalidJson,
                Err(ParseError::NotAFinding(_)) => NotAFinding,
            };
            assert_eq!(got, want, "{line}");
        }
    }

    #[test]
    fn deeply_nested_json_never_overflows_the_stack() {
        for member in ["x", "resource", "service", "title"] {
            let mut line = format!(r#"{{"id":"a","type":"T","severity":1,"{member}":"#);
            line.push_str(&"[".repeat(100_000));
            line.push_str(&"]".repeat(100_000));
            line.push('}');
            // An ignored member is skipped iteratively; a modelled one hits serde_json's
            // recursion limit. Either way: an answer, not a crash.
            let _ = Finding::parse(&line);
            let mut open = line.clone();
            open.truncate(open.len() - 50_001);
            assert!(Finding::parse(&open).is_err(), "{member}");
        }
    }

    #[test]
    fn lenient_members() {
        let f = Finding::parse(
            r#"{"id":"a","type":"T","severity":5,"accountId":111122223333,"title":null,
                "service":{"count":"7","archived":"true","eventFirstSeen":1700000000.5,
                "additionalInfo":{"sample":"true"}},
                "resource":{"s3BucketDetails":[{"name":"b1"},null,"x",{"name":"b2"}]}}"#,
        )
        .unwrap();
        assert_eq!(f.account_id.get(), Some("111122223333"));
        assert_eq!(f.title.get(), None);
        let s = f.service().unwrap();
        assert_eq!(s.count.0, Some(7.0));
        assert!(s.archived.0);
        assert_eq!(s.event_first_seen.get(), Some("1700000000.5"));
        assert!(s.additional_info.get().unwrap().sample.0);
        let names: Vec<_> = items(&f.resource.get().unwrap().s3_bucket_details)
            .filter_map(|b| b.name.get())
            .collect();
        assert_eq!(names, ["b1", "b2"]);
    }
}
