use super::*;

#[test]
fn client_messages_read_as_the_contract_writes_them() {
    let cases: [(&str, ClientSignal); 8] = [
        (r#"{"type":"join"}"#, ClientSignal::Join),
        (r#"{"type":"leave"}"#, ClientSignal::Leave),
        (r#"{"type":"answer","sdp":"v=0"}"#, ClientSignal::Answer { sdp: "v=0".into() }),
        (
            r#"{"type":"candidate","candidate":{"candidate":"candidate:1 1 udp 1 127.0.0.1 5000 typ host","sdp_mid":"0","sdp_mline_index":0}}"#,
            ClientSignal::Candidate {
                candidate: Some(IceCandidate {
                    candidate: "candidate:1 1 udp 1 127.0.0.1 5000 typ host".into(),
                    sdp_mid: Some("0".into()),
                    sdp_mline_index: Some(0),
                    username_fragment: None,
                }),
            },
        ),
        (r#"{"type":"candidate","candidate":null}"#, ClientSignal::Candidate { candidate: None }),
        (r#"{"type":"mute","muted":true}"#, ClientSignal::Mute { muted: true }),
        (
            r#"{"type":"mute_member","member":"42","muted":false}"#,
            ClientSignal::MuteMember { member: "42".into(), muted: false },
        ),
        (r#"{"type":"restart_ice"}"#, ClientSignal::RestartIce),
    ];
    for (json, want) in cases {
        assert_eq!(decode_client_signal(json.as_bytes()).unwrap(), want, "{json}");
        // And back: what a Rust client sends is what the server reads.
        let frame = encode_client_signal(&want);
        assert_eq!(frame[0], EXT_VOICE_SIGNAL);
        assert_eq!(decode_client_signal(&frame[2..]).unwrap(), want);
    }
}

#[test]
fn server_messages_write_the_contract_shape() {
    let state = ServerSignal::State {
        you: "7".into(),
        participants: vec![VoiceParticipant {
            member: "7".into(),
            name: "Ada".into(),
            role: Role::Candidate,
            muted: false,
            muted_by_interviewer: false,
        }],
    };
    let json = serde_json::to_string(&state).unwrap();
    assert_eq!(
        json,
        r#"{"type":"state","you":"7","participants":[{"member":"7","name":"Ada","role":"candidate","muted":false,"muted_by_interviewer":false}]}"#
    );
    let error = ServerSignal::Error { code: VoiceErrorCode::MutedByInterviewer, message: "no".into() };
    assert_eq!(
        serde_json::to_string(&error).unwrap(),
        r#"{"type":"error","code":"muted_by_interviewer","message":"no"}"#
    );
    let left = ServerSignal::Left { reason: LeftReason::RoomEnded };
    assert_eq!(serde_json::to_string(&left).unwrap(), r#"{"type":"left","reason":"room_ended"}"#);
    let config = ServerSignal::Config { ice_servers: vec![] };
    assert_eq!(serde_json::to_string(&config).unwrap(), r#"{"type":"config","ice_servers":[]}"#);
    let done = ServerSignal::Candidate { candidate: None };
    assert_eq!(serde_json::to_string(&done).unwrap(), r#"{"type":"candidate","candidate":null}"#);
    for signal in [state, error, left, config, done] {
        assert_eq!(decode_server_frame(&encode_server_signal(&signal)).unwrap(), signal);
    }
}

#[test]
fn frames_carry_the_length_as_a_varuint() {
    let long = "x".repeat(300);
    let frame = encode_frame(long.as_bytes());
    assert_eq!(&frame[..3], &[EXT_VOICE_SIGNAL, 0xac, 0x02], "300 as a varuint");
    assert_eq!(frame.len(), 303);
}

#[test]
fn garbage_and_unknown_types_are_invalid_payloads() {
    for bad in [&b"{"[..], b"[]", b"{\"type\":\"dance\"}", b"{\"type\":\"mute\"}", b"\xff\xfe", b""] {
        let err = decode_client_signal(bad).unwrap_err();
        assert_eq!(err.close_code(), CLOSE_INVALID_PAYLOAD, "{bad:?}");
    }
}

#[test]
fn a_message_over_the_limit_is_too_big() {
    let sdp = "a".repeat(MAX_VOICE_SIGNAL_BYTES);
    let json = serde_json::to_vec(&ClientSignal::Answer { sdp }).unwrap();
    let err = decode_client_signal(&json).unwrap_err();
    assert_eq!(err, SignalError::TooBig(json.len()));
    assert_eq!(err.close_code(), CLOSE_TOO_BIG);
}

#[test]
fn truncated_or_padded_server_frames_are_refused() {
    let frame = encode_server_signal(&ServerSignal::Left { reason: LeftReason::Replaced });
    assert!(decode_server_frame(&frame[..frame.len() - 1]).is_err());
    let mut padded = frame.clone();
    padded.push(b' ');
    assert!(decode_server_frame(&padded).is_err());
    assert!(decode_server_frame(&[EXT_VOICE_SIGNAL]).is_err());
    assert!(decode_server_frame(&[100, 0]).is_err());
}
