//! The generated model (`src/model/generated.rs`) agrees with the service
//! model and with the hand-written router.

use convene::model::{self, Exception, Location, Operation};
use convene::wire::router::{Endpoint, Query};

/// Regenerates every generated file (`convene_codegen::TARGETS`: the model,
/// the input and output types, their wire bindings, the OpenAPI document)
/// from `../shared/spec/chime-sdk-meetings/service-2.json` and compares each
/// with the committed file. Without the model this test cannot run:
/// it says so, and fails under `CI=true`. `CONVENE_SERVICE_MODEL` names
/// another copy of the model.
#[test]
fn generated_code_matches_the_model() {
    let root = convene_codegen::repo_root();
    let path = std::env::var_os("CONVENE_SERVICE_MODEL")
        .map_or_else(|| root.join(convene_codegen::MODEL_PATH), Into::into);
    let json = match std::fs::read_to_string(&path) {
        Ok(j) => j,
        Err(e) => {
            let msg = format!(
                "SKIPPED generated_code_matches_the_model: cannot read the model {}: {e}",
                path.display()
            );
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{msg} (CI=true: failing)"
            );
            // Straight to stderr: the test harness captures eprintln!.
            use std::io::Write as _;
            let _ = writeln!(std::io::stderr(), "\n*** {msg} ***\n");
            return;
        }
    };
    for (path, generate) in convene_codegen::TARGETS {
        let generated = generate(&json).expect("the model parses");
        let committed = std::fs::read_to_string(root.join(path))
            .unwrap_or_else(|e| panic!("{path} is committed: {e}"));
        if generated != committed {
            let line = generated
                .lines()
                .zip(committed.lines())
                .position(|(a, b)| a != b)
                .unwrap_or_else(|| generated.lines().count().min(committed.lines().count()));
            panic!(
                "{path} is out of date with the model (first difference at line {}): \
                 run `cargo run -p convene-codegen` and commit the result",
                line + 1
            );
        }
    }
}

/// Fills the `{Label}` placeholders of a path pattern with a sample id.
fn sample_path(pattern: &str) -> String {
    let mut out = String::new();
    let mut rest = pattern;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("closed label") + start;
        out.push_str("11111111-2222-3333-4444-555555555555");
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Every row of the generated table routes to the operation of the same name,
/// and every operation of the router is in the table.
#[test]
fn router_agrees_with_the_operation_table() {
    assert_eq!(model::OPERATIONS.len(), 16);
    for op in Operation::ALL {
        let spec = op.spec();
        assert_eq!(spec.operation, op);
        let query = spec
            .query_literal
            .map(|(k, v)| format!("{k}={v}"))
            .unwrap_or_default();
        let endpoint = Endpoint::parse(
            spec.method,
            &sample_path(spec.path),
            &Query::parse(Some(&query).filter(|q| !q.is_empty()).map(String::as_str)),
        )
        .unwrap_or_else(|e| panic!("{} {} does not route: {e}", spec.method, spec.request_uri));
        assert_eq!(endpoint.name(), spec.name, "{}", spec.request_uri);
        assert_eq!(Operation::from_name(spec.name), Some(op));
        // URI labels and query members are where the router reads them.
        for m in spec.members {
            if m.location == Location::Uri {
                assert!(spec.path.contains(&format!("{{{}}}", m.location_name)));
            }
        }
    }
}

#[test]
fn modeled_errors_answer_at_run_time() {
    let create = model::modeled_errors("CreateMeeting");
    assert!(create.contains(&("ConflictException", 409)));
    assert!(create.contains(&("LimitExceededException", 400)));
    assert!(!create.iter().any(|(name, _)| *name == "NotFoundException"));
    assert!(model::modeled_errors("GetMeeting").contains(&("NotFoundException", 404)));
    assert!(model::modeled_errors("NoSuchOperation").is_empty());
    let tag = model::modeled_errors("TagResource");
    assert!(tag.contains(&("TooManyTagsException", 400)));
    assert!(tag.contains(&("ResourceNotFoundException", 404)));
    // Every operation lists the six common exceptions.
    for op in Operation::ALL {
        for e in [
            Exception::BadRequest,
            Exception::Forbidden,
            Exception::Unauthorized,
            Exception::ServiceUnavailable,
            Exception::ServiceFailure,
            Exception::Throttling,
        ] {
            assert!(op.errors().contains(&e), "{op} does not list {e}");
        }
        assert_eq!(op.errors().len(), op.modeled_errors().len());
        for (e, (name, status)) in op.errors().iter().zip(op.modeled_errors()) {
            assert_eq!(e.shape_name(), *name);
            assert_eq!(e.status(), *status);
        }
    }
    assert_eq!(Exception::ServiceUnavailable.status(), 503);
    assert!(Exception::ServiceFailure.is_fault());
    assert_eq!(
        Exception::from_shape_name("ConflictException"),
        Some(Exception::Conflict)
    );
}

/// A per-operation error type takes only the exceptions its operation lists.
#[test]
fn operation_errors_hold_only_listed_exceptions() {
    use model::{
        CreateMeetingError, GetMeetingError, ModeledError, NotFoundException, OperationError,
    };
    let e: GetMeetingError = NotFoundException::new("gone").into();
    assert_eq!(e.exception(), Exception::NotFound);
    let carried: ModeledError = e.into();
    assert_eq!(carried.exception, Exception::NotFound);
    assert_eq!(carried.message, "gone");
    // CreateMeeting does not list NotFound: the conversion refuses it.
    assert!(CreateMeetingError::try_from(carried).is_err());
    for op in Operation::ALL {
        for e in Exception::ALL {
            let listed = op.errors().contains(&e);
            let ok = try_for(op, ModeledError::new(e, "x"));
            assert_eq!(ok, listed, "{op} and {e}");
        }
    }
}

fn try_for(op: Operation, e: model::ModeledError) -> bool {
    use model::*;
    match op {
        Operation::BatchCreateAttendee => BatchCreateAttendeeError::try_from(e).is_ok(),
        Operation::BatchUpdateAttendeeCapabilitiesExcept => {
            BatchUpdateAttendeeCapabilitiesExceptError::try_from(e).is_ok()
        }
        Operation::CreateAttendee => CreateAttendeeError::try_from(e).is_ok(),
        Operation::CreateMeeting => CreateMeetingError::try_from(e).is_ok(),
        Operation::CreateMeetingWithAttendees => {
            CreateMeetingWithAttendeesError::try_from(e).is_ok()
        }
        Operation::DeleteAttendee => DeleteAttendeeError::try_from(e).is_ok(),
        Operation::DeleteMeeting => DeleteMeetingError::try_from(e).is_ok(),
        Operation::GetAttendee => GetAttendeeError::try_from(e).is_ok(),
        Operation::GetMeeting => GetMeetingError::try_from(e).is_ok(),
        Operation::ListAttendees => ListAttendeesError::try_from(e).is_ok(),
        Operation::ListTagsForResource => ListTagsForResourceError::try_from(e).is_ok(),
        Operation::StartMeetingTranscription => StartMeetingTranscriptionError::try_from(e).is_ok(),
        Operation::StopMeetingTranscription => StopMeetingTranscriptionError::try_from(e).is_ok(),
        Operation::TagResource => TagResourceError::try_from(e).is_ok(),
        Operation::UntagResource => UntagResourceError::try_from(e).is_ok(),
        Operation::UpdateAttendeeCapabilities => {
            UpdateAttendeeCapabilitiesError::try_from(e).is_ok()
        }
    }
}
