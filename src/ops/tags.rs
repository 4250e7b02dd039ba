//! TagResource, UntagResource, ListTagsForResource. Only meetings can be tagged.

use std::sync::Arc;

use super::Service;
use crate::domain::ids::MeetingId;
use crate::domain::types::{meeting_arn, Caller, Meeting, Tag};
use crate::domain::{validate, Checked, Invalid};
use crate::model::{
    ListTagsForResourceError, ResourceNotFoundException, TagResourceError, TooManyTagsException,
    UntagResourceError,
};
use crate::store::{self, StoreError, Tx};

/// Tags one resource may carry.
pub const MAX_TAGS: usize = 50;

/// The meeting id an ARN names, if the ARN has the shape of a meeting ARN.
fn meeting_id_of_arn(arn: &str) -> Checked<MeetingId> {
    validate::resource_arn("ResourceARN", arn)?;
    let malformed = || {
        Invalid::new(format!(
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
    MeetingId::parse("ResourceARN", id).map_err(|_| malformed())
}

fn resource_not_found(arn: &str) -> ResourceNotFoundException {
    let mut e = ResourceNotFoundException::new(format!("Resource {arn} not found"));
    e.resource_name = Some(arn.to_string());
    e
}

/// The caller's meeting named by `arn`; an ARN of another account, region or a
/// meeting that does not exist is ResourceNotFoundException.
async fn tagged_meeting<E>(tx: &mut dyn Tx, caller: &Caller, arn: &str) -> Result<Meeting, E>
where
    E: From<Invalid> + From<ResourceNotFoundException> + From<StoreError>,
{
    let id = meeting_id_of_arn(arn)?;
    let meeting = tx.meeting(&caller.account_id, &id).await?.filter(|m| {
        m.control_region == caller.region
            && meeting_arn(&m.control_region, m.account_id.as_str(), id.as_str()) == arn
    });
    meeting.ok_or_else(|| resource_not_found(arn).into())
}

/// The tags on the resource after adding `tags` to `existing`, if within the limit.
fn check_tag_count(existing: &[Tag], tags: &[Tag], arn: &str) -> Result<(), TooManyTagsException> {
    let mut keys: Vec<&str> = existing.iter().map(|t| t.key.as_str()).collect();
    for t in tags {
        if !keys.contains(&t.key.as_str()) {
            keys.push(&t.key);
        }
    }
    if keys.len() > MAX_TAGS {
        let mut e = TooManyTagsException::new(format!(
            "A resource can have at most {MAX_TAGS} tags; this request would leave {}",
            keys.len()
        ));
        e.resource_name = Some(arn.to_string());
        return Err(e);
    }
    Ok(())
}

impl Service {
    pub async fn tag_resource(
        &self,
        caller: &Caller,
        arn: String,
        tags: Vec<Tag>,
    ) -> Result<(), TagResourceError> {
        meeting_id_of_arn(&arn)?;
        validate::count("Tags", tags.len(), 0, MAX_TAGS)?;
        for (i, t) in tags.iter().enumerate() {
            validate::tag_key(&format!("Tags[{i}].Key"), &t.key)?;
            validate::tag_value(&format!("Tags[{i}].Value"), &t.value)?;
        }
        let caller = caller.clone();
        let (arn, tags): (Arc<str>, Arc<[Tag]>) = (arn.into(), tags.into());
        store::write(self.store(), move |tx| {
            let (caller, arn, tags) = (caller.clone(), arn.clone(), tags.clone());
            Box::pin(async move {
                let meeting = tagged_meeting::<TagResourceError>(tx, &caller, &arn).await?;
                let existing = tx.tags(&meeting.meeting_id).await?;
                check_tag_count(&existing, &tags, &arn)?;
                tx.put_tags(&meeting.meeting_id, &tags).await?;
                Ok(())
            })
        })
        .await
    }

    pub async fn untag_resource(
        &self,
        caller: &Caller,
        arn: String,
        keys: Vec<String>,
    ) -> Result<(), UntagResourceError> {
        meeting_id_of_arn(&arn)?;
        validate::count("TagKeys", keys.len(), 0, MAX_TAGS)?;
        for (i, k) in keys.iter().enumerate() {
            validate::tag_key(&format!("TagKeys[{i}]"), k)?;
        }
        let caller = caller.clone();
        let (arn, keys): (Arc<str>, Arc<[String]>) = (arn.into(), keys.into());
        store::write(self.store(), move |tx| {
            let (caller, arn, keys) = (caller.clone(), arn.clone(), keys.clone());
            Box::pin(async move {
                let meeting = tagged_meeting::<UntagResourceError>(tx, &caller, &arn).await?;
                tx.remove_tags(&meeting.meeting_id, &keys).await?;
                Ok(())
            })
        })
        .await
    }

    pub async fn list_tags_for_resource(
        &self,
        caller: &Caller,
        arn: String,
    ) -> Result<Vec<Tag>, ListTagsForResourceError> {
        meeting_id_of_arn(&arn)?;
        let caller = caller.clone();
        let arn: Arc<str> = arn.into();
        store::lookup(self.store(), move |tx| {
            let (caller, arn) = (caller.clone(), arn.clone());
            Box::pin(async move {
                let meeting = tagged_meeting::<ListTagsForResourceError>(tx, &caller, &arn).await?;
                Ok(tx.tags(&meeting.meeting_id).await?)
            })
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
