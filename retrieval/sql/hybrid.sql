-- The hybrid retrieval benchmark in SQL: the node pipeline's stages
-- (retrieval/src/pipeline.rs) as DataFusion functions
-- (nodefusion_udfs::sql). Run it with
--
--     nodefusion-retrieval sql retrieval/sql/hybrid.sql
--
-- which fills the ${...} placeholders from its flags (the default slice,
-- the cached model, --encoder-precision, the index folder, --top-k,
-- --rerank-k) and prints what
-- each statement returns; the last is the metrics table.

CREATE EXTERNAL TABLE passages STORED AS PARQUET LOCATION '${passages}';
CREATE EXTERNAL TABLE queries STORED AS PARQUET LOCATION '${queries}';
CREATE EXTERNAL TABLE ground_truths STORED AS PARQUET LOCATION '${ground_truths}';

SET nodefusion.model = '${model}';
SET nodefusion.encoder_style = '${encoder_style}';
SET nodefusion.encoder_precision = '${encoder_precision}';

-- Every passage's token matrix, encoded batch by batch.
CREATE TABLE encoded_passages AS
SELECT uuid, text, encode_passage(text) AS tokens FROM passages;

-- The three indexes, written through object_store (replacing earlier ones,
-- as the pipeline's --override does).
SELECT
    build_plaid_index('${index_folder}/plaid', uuid, tokens, true) AS plaid,
    build_bm25_index('${index_folder}/bm25', uuid, text, true) AS bm25,
    build_passage_lookup('${index_folder}/passages', uuid, tokens, true) AS passages
FROM encoded_passages;

-- Per query: late interaction and BM25, fused by z-score, then the
-- order-keeping rerank (the fused list fused again with its exact-MaxSim
-- order).
CREATE TABLE runs AS
WITH encoded AS (
    SELECT uuid, text, encode_query(text) AS tokens FROM queries
), first_stage AS (
    SELECT uuid, tokens,
           plaid_search('${index_folder}/plaid', tokens, ${top_k}) AS colbert,
           bm25_search('${index_folder}/bm25', text, ${top_k}) AS bm25
    FROM encoded
), fused AS (
    SELECT uuid, tokens, colbert, bm25, fuse('z_score', ${top_k}, colbert, bm25) AS fused
    FROM first_stage
)
SELECT uuid, colbert, bm25, fused,
       fuse('z_score', ${rerank_k}, fused, rerank('${index_folder}/passages', tokens, fused, ${top_k}))
           AS fused_rerank
FROM fused;

-- trec_eval's nDCG@10, Recall@10 and Recall@100, averaged over every judged
-- query (one the run missed counts 0, as trec_eval -c).
WITH judged AS (
    SELECT query_uuid, array_agg(named_struct('uuid', passage_uuid, 'relevance', relevance)) AS judgements
    FROM ground_truths
    GROUP BY query_uuid
), systems AS (
    SELECT j.judgements,
           unnest(make_array(
               named_struct('system', 'colbert', 'hits', r.colbert),
               named_struct('system', 'bm25', 'hits', r.bm25),
               named_struct('system', 'fused', 'hits', r.fused),
               named_struct('system', 'fused+rerank', 'hits', r.fused_rerank))) AS run
    FROM judged j LEFT JOIN runs r ON r.uuid = j.query_uuid
)
SELECT run['system'] AS system,
       AVG(ndcg(run['hits'], judgements, 10)) AS ndcg_cut_10,
       AVG(recall(run['hits'], judgements, 10)) AS recall_10,
       AVG(recall(run['hits'], judgements, 100)) AS recall_100
FROM systems
GROUP BY run['system']
ORDER BY CASE run['system'] WHEN 'colbert' THEN 1 WHEN 'bm25' THEN 2 WHEN 'fused' THEN 3 ELSE 4 END;
