//! The quickstart: a per-passage pipeline mapped over a small built-in
//! corpus, run on the sequential engine, with its run report and graph.
//!
//! Run: `cargo run --release --example quickstart`

use nodefusion::{Inputs, node, pipeline};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Passage {
    uuid: String,
    text: String,
}

#[node(output = "tokens")]
fn tokenize(passage: Passage) -> Vec<String> {
    passage.text.split_whitespace().map(str::to_lowercase).collect()
}

#[node(output = "length")]
fn count(tokens: Vec<String>) -> usize {
    tokens.len()
}

#[node(output = "mean_length")]
fn mean(lengths: Vec<usize>) -> f64 {
    lengths.iter().sum::<usize>() as f64 / lengths.len().max(1) as f64
}

fn main() -> Result<(), nodefusion::Error> {
    let corpus = [
        "In the beginning God created the heaven and the earth",
        "בראשית ברא אלהים את השמים ואת הארץ",
        "And the earth was without form and void",
    ];
    let passages: Vec<Passage> = corpus
        .iter()
        .enumerate()
        .map(|(i, text)| Passage {
            uuid: format!("p{i}"),
            text: text.to_string(),
        })
        .collect();

    let per_passage = pipeline![tokenize::node(), count::node()]?;
    let pipeline = pipeline![
        per_passage
            .as_node("per_passage")
            .rename_input("passage", "passages")
            .rename_output("length", "lengths")
            .map_over(["passages"]),
        mean::node(),
    ]?;

    println!("{}", pipeline.to_mermaid());
    let out = pipeline.run(Inputs::new().with("passages", passages))?;
    println!("lengths: {:?}", out.get::<Vec<usize>>("lengths")?);
    println!("mean length: {:.2}", out.get::<f64>("mean_length")?);
    println!("\n{}", out.report());
    assert_eq!(out.get::<Vec<usize>>("lengths")?, &vec![10, 7, 8]);
    Ok(())
}
