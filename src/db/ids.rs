//! Typed ids: UUID v7 (time-ordered) wrapped per entity, so a `UserId` cannot be passed where an
//! `OrgId` is expected. Stored as text in both backends; diesel rows declare them with
//! `#[diesel(deserialize_as = String)]`, and queries bind `id.to_string()`.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

macro_rules! typed_id {
    ($($name:ident),* $(,)?) => {$(
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
                 serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
        #[serde(transparent)]
        #[schema(value_type = String, format = Uuid)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        /// Lets diesel rows hold typed ids: `#[diesel(deserialize_as = String)] id: OrgId`.
        impl TryFrom<String> for $name {
            type Error = uuid::Error;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                Uuid::parse_str(&s).map(Self)
            }
        }

        impl From<Uuid> for $name {
            fn from(u: Uuid) -> Self {
                Self(u)
            }
        }
    )*};
}

typed_id!(
    OrgId,
    UserId,
    AuditEventId,
    PatientId,
    CoverageId,
    ProviderId,
    PayerId,
    FeeScheduleId,
    FeeItemId,
    SpecimenId,
    SpecimenTestId,
    TestResultId,
    CustodyEventId,
    ChargeId,
    ManifestId,
    ClaimId,
    ClaimLineId,
    ClaimEventId,
    BatchId,
    BatchEventId,
    AcknowledgementId,
    RemittanceId,
    LedgerEntryId,
);

/// Parses an id read from the database; a malformed one is a data-integrity failure (500).
pub fn parse_id<T: FromStr>(raw: &str) -> Result<T, crate::error::AppError> {
    raw.parse()
        .map_err(|_| crate::error::AppError::internal(format!("malformed id in database: {raw:?}")))
}
