//! The size table against GaLore's published counts, named views against
//! the flat buffer, and safetensors checkpoints round trip and fail clearly.

use llama::{Layout, LlamaConfig, ParamKind, ParamStore, StoreError};

#[test]
fn llama_60m_has_galores_parameter_counts() {
    let layout = Layout::new(&LlamaConfig::llama_60m());
    // 2 × 32000·512 (untied embedding and lm_head) + 8 layers × (4·512² +
    // 3·1376·512 + 2·512) + 512: GaLore's "60M" is 58.07M parameters, of
    // which the projected attention and MLP matrices are 25.30M.
    assert_eq!(layout.total(), 58_073_600);
    assert_eq!(layout.galore_total(), 25_296_896);
    assert_eq!(layout.specs().len(), 1 + 8 * 9 + 2);
    let galore: Vec<_> = layout.specs().iter().filter(|s| s.kind.galore()).collect();
    assert_eq!(galore.len(), 56, "the 56 GaLore matrices of the 60M model");
    let up = layout.get("model.layers.3.mlp.up_proj.weight").unwrap();
    assert_eq!(
        (up.shape.as_slice(), up.kind),
        (&[1376, 512][..], ParamKind::Mlp)
    );
    let down = layout.get("model.layers.7.mlp.down_proj.weight").unwrap();
    assert_eq!(down.shape, [512, 1376]);
    assert_eq!(
        layout.get("lm_head.weight").unwrap().kind,
        ParamKind::LmHead
    );
    // Offsets tile the buffer without gaps or overlaps.
    let mut next = 0;
    for s in layout.specs() {
        assert_eq!(s.offset, next, "{}", s.name);
        next += s.len();
    }
    assert_eq!(next, layout.total());
}

#[test]
fn init_follows_hugging_face_and_is_seeded() {
    let c = LlamaConfig::tiny();
    let a = ParamStore::init(&c, 1);
    assert_eq!(a, ParamStore::init(&c, 1));
    assert_ne!(a, ParamStore::init(&c, 2));
    assert!(
        a.slice("model.norm.weight")
            .unwrap()
            .iter()
            .all(|&x| x == 1.0)
    );
    let w = a.slice("model.embed_tokens.weight").unwrap();
    let mean = w.iter().sum::<f32>() / w.len() as f32;
    let std = (w.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / w.len() as f32).sqrt();
    assert!(
        mean.abs() < 2e-3 && (std - 0.02).abs() < 1e-3,
        "mean {mean}, std {std}"
    );
}

#[test]
fn matrix_views_are_out_by_in_row_major() {
    let c = LlamaConfig::tiny();
    let mut s = ParamStore::init(&c, 3);
    let name = "model.layers.1.mlp.gate_proj.weight";
    let flat = s.slice(name).unwrap().to_vec();
    let m = s.matrix(name).unwrap();
    assert_eq!(m.shape(), (172, 64));
    assert_eq!(m[(2, 5)], flat[2 * 64 + 5]);
    s.matrix_mut(name).unwrap()[(2, 5)] = 42.0;
    assert_eq!(s.slice(name).unwrap()[2 * 64 + 5], 42.0);
    assert!(
        s.matrix("model.norm.weight").is_none(),
        "a vector has no matrix view"
    );
}

#[test]
fn checkpoints_round_trip_and_fail_with_the_tensor_named() {
    let c = LlamaConfig::tiny();
    let s = ParamStore::init(&c, 4);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    s.save(&path).unwrap();
    let back = ParamStore::load(&path, s.layout()).unwrap();
    assert_eq!(back, s, "bit-exact round trip");

    // A model with one more layer finds layer 2 missing.
    let bigger = LlamaConfig {
        num_hidden_layers: 3,
        ..c.clone()
    };
    let err = ParamStore::load(&path, &Layout::new(&bigger)).unwrap_err();
    assert!(
        matches!(&err, StoreError::Missing { name, .. } if name == "model.layers.2.input_layernorm.weight"),
        "{err}"
    );
    // A wider model finds the first shape that differs.
    let wider = LlamaConfig {
        intermediate_size: 176,
        ..c.clone()
    };
    let err = ParamStore::load(&path, &Layout::new(&wider))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("model.layers.0.mlp.gate_proj.weight")
            && err.contains("[172, 64]")
            && err.contains("[176, 64]"),
        "{err}"
    );
    // A truncated file is an error naming it, not a panic.
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let err = ParamStore::load(&path, s.layout()).unwrap_err().to_string();
    assert!(
        err.contains("model.safetensors") && err.contains("not a safetensors file"),
        "{err}"
    );
}

#[test]
fn save_f32_writes_borrowed_tensors_readable_by_safetensors_and_refuses_a_bad_shape() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.safetensors");
    let a: Vec<f32> = (0..6).map(|i| i as f32 * 0.5 - 1.0).collect();
    let b = [f32::MIN_POSITIVE, -0.0, 3.25e7];
    llama::params::save_f32(
        &path,
        [
            ("a", &[2usize, 3][..], &a[..]),
            ("b", &[3usize][..], &b[..]),
        ],
        &[("step", "7".into())],
    )
    .unwrap();
    // Read back by the safetensors crate itself, bytes as written.
    let bytes = std::fs::read(&path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let t = st.tensor("a").unwrap();
    assert_eq!(
        (t.dtype(), t.shape()),
        (safetensors::Dtype::F32, &[2usize, 3][..])
    );
    let le: Vec<u8> = a.iter().flat_map(|x| x.to_le_bytes()).collect();
    assert_eq!(t.data(), &le[..]);
    let (tensors, meta) = llama::params::load_f32(&path).unwrap();
    assert_eq!(meta.get("step").map(String::as_str), Some("7"));
    let got_b = tensors.iter().find(|t| t.name == "b").unwrap();
    assert_eq!(
        got_b.data.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
        b.map(f32::to_bits)
    );

    let bad = dir.path().join("bad.safetensors");
    let err = llama::params::save_f32(&bad, [("w", &[4usize, 2][..], &a[..])], &[])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("bad.safetensors") && err.contains("tensor w") && err.contains("[4, 2]"),
        "{err}"
    );
    assert!(!bad.exists(), "nothing written for a bad shape");
}

#[test]
fn hugging_face_config_json_round_trips() {
    let c = LlamaConfig::llama_60m();
    let json = c.to_hf_json();
    assert_eq!(json["model_type"], "llama");
    assert_eq!(json["num_key_value_heads"], 8);
    assert_eq!(json["hidden_act"], "silu");
    assert_eq!(LlamaConfig::from_hf_json(&json.to_string()).unwrap(), c);
    // GaLore's own configs/llama_60m.json (fields as published).
    let galore = r#"{"architectures": ["LLaMAForCausalLM"], "bos_token_id": 0, "eos_token_id": 1,
        "hidden_act": "silu", "hidden_size": 512, "intermediate_size": 1376, "initializer_range": 0.02,
        "max_sequence_length": 1024, "model_type": "llama", "num_attention_heads": 8,
        "num_hidden_layers": 8, "pad_token_id": -1, "rms_norm_eps": 1e-06,
        "transformers_version": "4.28.1", "use_cache": true, "vocab_size": 32000}"#;
    let g = LlamaConfig::from_hf_json(galore).unwrap();
    assert_eq!(Layout::new(&g).total(), 58_073_600);
    assert_eq!(g.head_dim(), 64);
    let gqa = json
        .to_string()
        .replace("\"num_key_value_heads\":8", "\"num_key_value_heads\":2");
    assert!(
        LlamaConfig::from_hf_json(&gqa)
            .unwrap_err()
            .contains("grouped-query")
    );
}
