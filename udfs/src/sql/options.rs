//! The session settings of the retrieval functions, under `nodefusion.`:
//! set with `SET nodefusion.model = '…'` in SQL, or on a
//! [`SessionConfig`](datafusion::prelude::SessionConfig) with
//! `with_option_extension`.

use datafusion::common::config::ConfigExtension;
use datafusion::common::extensions_options;

extensions_options! {
    /// The retrieval functions' settings (prefix `nodefusion`).
    ///
    /// ```
    /// use datafusion::prelude::{SessionConfig, SessionContext};
    /// use nodefusion_udfs::sql::SqlOptions;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> datafusion::error::Result<()> {
    /// let ctx = SessionContext::new();
    /// nodefusion_udfs::sql::register(&ctx);
    /// ctx.sql("SET nodefusion.encoder_style = 'colbert'").await?.collect().await?;
    /// let state = ctx.state();
    /// let options = state.config().options().extensions.get::<SqlOptions>().unwrap();
    /// assert_eq!(options.encoder_style, "colbert");
    /// # Ok(())
    /// # }
    /// ```
    pub struct SqlOptions {
        /// The model directory the encode functions use when not given one
        /// as their second argument.
        pub model: Option<String>, default = None
        /// The encoder settings for that model: `e5` (prefixes, no query
        /// augmentation) or `colbert` (markers, `[MASK]` augmentation); see
        /// `nodefusion_udfs::colbert::EncoderStyle`.
        pub encoder_style: String, default = "e5".to_owned()
        /// The number format of the encoder's dense layers: `f32`, or `bf16`
        /// on Intel AMX; see `nodefusion_udfs::colbert::Precision`.
        pub encoder_precision: String, default = "f32".to_owned()
    }
}

impl ConfigExtension for SqlOptions {
    const PREFIX: &'static str = "nodefusion";
}
