//! Tollgate's domain: the rules of DESIGN.md §2 and the validated types that carry them.
//!
//! Nothing here performs I/O. Values that can be invalid are parsed once at the edge
//! (`Email::parse`, `Name::parse`, …) so that the rest of the code never sees an invalid one.

pub mod api_key;
pub mod catalog;
pub mod clock;
pub mod country;
pub mod device;
pub mod ids;
pub mod invite;
pub mod ledger;
pub mod limits;
pub mod money;
pub mod org;
pub mod payment;
pub mod permissions;
pub mod project;
pub mod secret;
pub mod subscription;
mod text_enum;
pub mod totp;
pub mod usage;
pub mod validate;

pub use catalog::Catalog;
pub use clock::{Clock, ManualClock, SystemClock, Timestamp};
pub use ids::{
    new_id, new_time_ordered_id, ApiKeyId, CallerId, IdPrefix, InviteId, OrgId, PaymentId,
    PlaygroundPassId, ProjectId, RequestId, SessionId, SubscriptionId, UserId,
};
pub use money::Money;
pub use org::{OrgRole, OrgType};
pub use permissions::{allows, allows_in_project, OrgAction, ProjectAction};
pub use project::ProjectRole;
pub use validate::{Email, Name, Password, ValidationError};
