//! TagResource, UntagResource, ListTagsForResource. Only meetings can be tagged.

use super::Service;
use crate::domain::types::{meeting_arn, Caller, Meeting, Tag};
use crate::domain::{validate, ApiError, ApiResult, ErrorKind};
use crate::store::{self, Tx};

/// Tags one resource may carry.
pub const MAX_TAGS: usize = 50;

/// The meeting id an ARN names, if the ARN has the shape of a meeting ARN.
fn meeting_id_of_arn(arn: &str) -> ApiResult<&str> {
    validate::resource_arn("ResourceARN", arn)?;
    let malformed = || {
        ApiError::bad_request(format!(
            "Invalid value for ResourceARN: {arn:?} is not a meeting ARN (arn:aws:chime:<region>:<account>:meeting/<MeetingId>)"
        ))
    };
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if parts.len() != 6
        || parts[1].is_empty()
        || parts[2] != "chime"
        || parts[3].is_empty()
        || parts[4].is_empty()
    {
        return Err(malformed());
    }
    let id = parts[5].strip_prefix("meeting/").ok_or_else(malformed)?;
    if !validate::is_guid(id) {
        return Err(malformed());
    }
    Ok(id)
}

fn resource_not_found(arn: &str) -> ApiError {
    ApiError::new(
        ErrorKind::ResourceNotFound,
        format!("Resource {arn} not found"),
    )
    .with_resource_name(arn)
}

/// The caller's meeting named by `arn`; an ARN of another account, region or a
/// meeting that does not exist is ResourceNotFoundException.
fn tagged_meeting(tx: &mut dyn Tx, caller: &Caller, arn: &str) -> ApiResult<Meeting> {
    let id = meeting_id_of_arn(arn)?;
    let meeting = tx.get_meeting(&caller.account_id, id)?.filter(|m| {
        m.control_region == caller.region
            && meeting_arn(&m.control_region, &m.account_id, id) == arn
    });
    meeting.ok_or_else(|| resource_not_found(arn))
}

impl Service {
    pub async fn tag_resource(
        &self,
        caller: &Caller,
        arn: String,
        tags: Vec<Tag>,
    ) -> ApiResult<()> {
        meeting_id_of_arn(&arn)?;
        validate::count("Tags", tags.len(), 0, MAX_TAGS)?;
        for (i, t) in tags.iter().enumerate() {
            validate::tag_key(&format!("Tags[{i}].Key"), &t.key)?;
            validate::tag_value(&format!("Tags[{i}].Value"), &t.value)?;
        }
        let caller = caller.clone();
        store::write(self.store(), move |tx| {
            let meeting = tagged_meeting(tx, &caller, &arn)?;
            let existing = tx.tags(&meeting.meeting_id)?;
            let mut keys: Vec<&str> = existing.iter().map(|t| t.key.as_str()).collect();
            for t in &tags {
                if !keys.contains(&t.key.as_str()) {
                    keys.push(&t.key);
                }
            }
            if keys.len() > MAX_TAGS {
                return Err(ApiError::new(
                    ErrorKind::TooManyTags,
                    format!(
                        "A resource can have at most {MAX_TAGS} tags; this request would leave {}",
                        keys.len()
                    ),
                )
                .with_resource_name(&arn));
            }
            tx.put_tags(&meeting.meeting_id, &tags)?;
            Ok(())
        })
        .await
    }

    pub async fn untag_resource(
        &self,
        caller: &Caller,
        arn: String,
        keys: Vec<String>,
    ) -> ApiResult<()> {
        meeting_id_of_arn(&arn)?;
        validate::count("TagKeys", keys.len(), 0, MAX_TAGS)?;
        for (i, k) in keys.iter().enumerate() {
            validate::tag_key(&format!("TagKeys[{i}]"), k)?;
        }
        let caller = caller.clone();
        store::write(self.store(), move |tx| {
            let meeting = tagged_meeting(tx, &caller, &arn)?;
            tx.remove_tags(&meeting.meeting_id, &keys)?;
            Ok(())
        })
        .await
    }

    pub async fn list_tags_for_resource(
        &self,
        caller: &Caller,
        arn: String,
    ) -> ApiResult<Vec<Tag>> {
        meeting_id_of_arn(&arn)?;
        let caller = caller.clone();
        store::read(self.store(), move |tx| {
            let meeting = tagged_meeting(tx, &caller, &arn)?;
            Ok(tx.tags(&meeting.meeting_id)?)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meeting_arns() {
        let id = "11111111-2222-3333-4444-555555555555";
        assert_eq!(
            meeting_id_of_arn(&format!(
                "arn:aws:chime:us-east-1:123456789012:meeting/{id}"
            ))
            .unwrap(),
            id
        );
        assert!(meeting_id_of_arn("arn:aws:chime:us-east-1:123456789012:meeting/nope").is_err());
        assert!(
            meeting_id_of_arn(&format!("arn:aws:s3:us-east-1:123456789012:meeting/{id}")).is_err()
        );
        assert!(meeting_id_of_arn("nope").is_err());
    }
}
