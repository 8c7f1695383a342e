//! Ids in a request's path, parsed once where the request comes in: the API's `ApiPath` and
//! the console's `PagePath` give handlers typed ids (`OrgId`, `ProjectId`, …), so a project id
//! can never be passed where an organization's is expected.
//!
//! A malformed id gets the answer it got when the service checked each id's shape itself:
//! the caller must be signed in, then a member of the organization in the path (with its
//! two-factor rule), and only then is the malformed id "not found" (`NotFound(what)`), so
//! a malformed id never tells a stranger more than a well-formed unknown one.

use tollgate_domain::{
    ApiKeyId, InviteId, OrgId, PaymentId, ProjectId, RequestId, SessionId, SubscriptionId, UserId,
};

use crate::app::App;
use crate::auth::CurrentSession;
use crate::service::ServiceError;

/// One segment of a path: a typed id, or a `String` for what is not an id (a model's name,
/// a token).
pub trait PathSegment: Sized {
    /// The value, or, when malformed, what the segment names (`NotFound(what)`).
    fn from_segment(segment: String) -> Result<Self, &'static str>;

    /// The organization this segment names, if it is one.
    fn as_org(&self) -> Option<&OrgId> {
        None
    }
}

impl PathSegment for String {
    fn from_segment(segment: String) -> Result<Self, &'static str> {
        Ok(segment)
    }
}

macro_rules! path_segment {
    ($($id:ty => $what:literal),+ $(,)?) => {
        $(impl PathSegment for $id {
            fn from_segment(segment: String) -> Result<Self, &'static str> {
                <$id>::parse(&segment).ok_or($what)
            }
        })+
    };
}

path_segment!(
    ProjectId => "project",
    ApiKeyId => "API key",
    UserId => "member",
    InviteId => "invitation",
    SubscriptionId => "subscription",
    PaymentId => "payment",
    SessionId => "session",
    RequestId => "request",
);

impl PathSegment for OrgId {
    fn from_segment(segment: String) -> Result<Self, &'static str> {
        OrgId::parse(&segment).ok_or("organization")
    }

    fn as_org(&self) -> Option<&OrgId> {
        Some(self)
    }
}

/// A malformed id in a path: what it names, and the organization before it, if any.
#[derive(Debug)]
pub struct MalformedId {
    pub what: &'static str,
    pub org: Option<OrgId>,
}

/// Why a path's segments are not a `PathIds`.
#[derive(Debug)]
pub enum PathIdsError {
    Malformed(MalformedId),
    /// The route has another number of parameters (a routing mistake, never a client's).
    WrongCount,
}

/// All the parameters of a path: one segment, or a tuple of them in the route's order.
pub trait PathIds: Sized {
    fn from_segments(segments: Vec<String>) -> Result<Self, PathIdsError>;
}

fn malformed(what: &'static str, org: Option<&OrgId>) -> PathIdsError {
    PathIdsError::Malformed(MalformedId {
        what,
        org: org.cloned(),
    })
}

impl<A: PathSegment> PathIds for A {
    fn from_segments(segments: Vec<String>) -> Result<Self, PathIdsError> {
        let [a]: [String; 1] = segments.try_into().map_err(|_| PathIdsError::WrongCount)?;
        A::from_segment(a).map_err(|what| malformed(what, None))
    }
}

impl<A: PathSegment, B: PathSegment> PathIds for (A, B) {
    fn from_segments(segments: Vec<String>) -> Result<Self, PathIdsError> {
        let [a, b]: [String; 2] = segments.try_into().map_err(|_| PathIdsError::WrongCount)?;
        let a = A::from_segment(a).map_err(|what| malformed(what, None))?;
        let b = B::from_segment(b).map_err(|what| malformed(what, a.as_org()))?;
        Ok((a, b))
    }
}

impl<A: PathSegment, B: PathSegment, C: PathSegment> PathIds for (A, B, C) {
    fn from_segments(segments: Vec<String>) -> Result<Self, PathIdsError> {
        let [a, b, c]: [String; 3] = segments.try_into().map_err(|_| PathIdsError::WrongCount)?;
        let a = A::from_segment(a).map_err(|what| malformed(what, None))?;
        let b = B::from_segment(b).map_err(|what| malformed(what, a.as_org()))?;
        let c = C::from_segment(c).map_err(|what| malformed(what, a.as_org()))?;
        Ok((a, b, c))
    }
}

/// The answer to a malformed id in a path, for a signed-in caller: the organization
/// before it is checked first (404, or the two-factor rule), as the operation would have.
pub(crate) async fn malformed_path_id(
    app: &App,
    session: &CurrentSession,
    malformed: MalformedId,
) -> ServiceError {
    if let Some(org) = &malformed.org {
        if let Err(e) = app.org_access(&session.user, org).await {
            return e;
        }
    }
    ServiceError::NotFound(malformed.what)
}
