//! The `#[node]` and `#[batch]` attributes of nodefusion. See
//! `nodefusion::node` and `nodefusion::batch` for the user-facing
//! documentation; this crate only generates code.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{format_ident, quote};
use syn::parse::Parser;
use syn::{
    Expr, ExprArray, ExprLit, ExprTuple, FnArg, GenericArgument, ItemFn, Lit, LitStr, Pat, PathArguments, ReturnType,
    Type,
};

/// Turns a plain function into a pipeline node; see `nodefusion::node`.
#[proc_macro_attribute]
pub fn node(attr: TokenStream, item: TokenStream) -> TokenStream {
    match expand(attr.into(), item.into()) {
        Ok(tokens) => tokens.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// Marks a node's batch implementation; see `nodefusion::batch`.
#[proc_macro_attribute]
pub fn batch(attr: TokenStream, item: TokenStream) -> TokenStream {
    match expand_batch(attr.into(), item.into()) {
        Ok(tokens) => tokens.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// The name of the constant holding the version of batch function `name`.
fn batch_version_name(name: &syn::Ident) -> syn::Ident {
    format_ident!("__nodefusion_batch_version_of_{}", name)
}

/// The function as it is, and beside it a constant with the hash of its
/// tokens, which `#[node(batch = f)]` folds into the node's version.
fn expand_batch(attr: TokenStream2, item: TokenStream2) -> syn::Result<TokenStream2> {
    if !attr.is_empty() {
        return Err(syn::Error::new_spanned(attr, "#[batch] takes no options"));
    }
    let version = fnv1a(&item.to_string());
    let func: ItemFn = syn::parse2(item)?;
    let vis = &func.vis;
    let name = batch_version_name(&func.sig.ident);
    Ok(quote! {
        #func

        #[doc(hidden)]
        #[allow(non_upper_case_globals)]
        #vis const #name: u64 = #version;
    })
}

#[derive(Default)]
struct Options {
    outputs: Vec<String>,
    batch: Option<syn::Path>,
    constant: Vec<syn::LitStr>,
    batch_size: Option<usize>,
    concurrency: Option<usize>,
    cache: bool,
    name: Option<String>,
}

fn parse_options(attr: TokenStream2) -> syn::Result<Options> {
    let mut options = Options::default();
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("output") || meta.path.is_ident("outputs") {
            if !options.outputs.is_empty() {
                return Err(meta.error("the outputs are given twice; name them all in one: output = (\"a\", \"b\")"));
            }
            let expr: Expr = meta.value()?.parse()?;
            options.outputs = string_literals(&expr)?.iter().map(LitStr::value).collect();
            Ok(())
        } else if meta.path.is_ident("batch") {
            options.batch = Some(meta.value()?.parse()?);
            Ok(())
        } else if meta.path.is_ident("constant") {
            if !options.constant.is_empty() {
                return Err(
                    meta.error("`constant` is given twice; list every constant input once: constant = (\"a\", \"b\")")
                );
            }
            let expr: Expr = meta.value()?.parse()?;
            options.constant = string_literals(&expr)?;
            Ok(())
        } else if meta.path.is_ident("batch_size") {
            options.batch_size = Some(meta.value()?.parse::<syn::LitInt>()?.base10_parse()?);
            Ok(())
        } else if meta.path.is_ident("concurrency") {
            options.concurrency = Some(meta.value()?.parse::<syn::LitInt>()?.base10_parse()?);
            Ok(())
        } else if meta.path.is_ident("cache") {
            options.cache = true;
            Ok(())
        } else if meta.path.is_ident("name") {
            options.name = Some(meta.value()?.parse::<LitStr>()?.value());
            Ok(())
        } else {
            Err(meta.error(
                "unknown #[node] option; expected output, batch, constant, batch_size, concurrency, cache or name",
            ))
        }
    });
    parser.parse2(attr)?;
    if options.outputs.is_empty() {
        return Err(syn::Error::new(
            Span::call_site(),
            "#[node] needs its output name(s): #[node(output = \"name\")] or #[node(output = (\"a\", \"b\"))]",
        ));
    }
    Ok(options)
}

/// `"a"`, `("a", "b")` or `["a", "b"]`.
fn string_literals(expr: &Expr) -> syn::Result<Vec<LitStr>> {
    let lit = |e: &Expr| match e {
        Expr::Lit(ExprLit { lit: Lit::Str(s), .. }) => Ok(s.clone()),
        other => Err(syn::Error::new_spanned(other, "expected a string literal")),
    };
    match expr {
        Expr::Tuple(ExprTuple { elems, .. }) | Expr::Array(ExprArray { elems, .. }) => elems.iter().map(lit).collect(),
        Expr::Paren(p) => Ok(vec![lit(&p.expr)?]),
        other => Ok(vec![lit(other)?]),
    }
}

struct Param {
    ident: syn::Ident,
    ty: Type,
    by_ref: bool,
}

fn params(item: &ItemFn) -> syn::Result<Vec<Param>> {
    item.sig
        .inputs
        .iter()
        .map(|arg| match arg {
            FnArg::Receiver(r) => Err(syn::Error::new_spanned(
                r,
                "a node is a free function; methods cannot be nodes",
            )),
            FnArg::Typed(typed) => {
                let ident = match &*typed.pat {
                    Pat::Ident(p) => p.ident.clone(),
                    other => {
                        return Err(syn::Error::new_spanned(
                            other,
                            "node parameters must be plain names: the name is the input's name",
                        ));
                    }
                };
                let (ty, by_ref) = match &*typed.ty {
                    // `&[T]` borrows a `Vec<T>` input.
                    Type::Reference(r) if r.mutability.is_none() => match &*r.elem {
                        Type::Slice(slice) => {
                            let item = &slice.elem;
                            (syn::parse_quote!(::std::vec::Vec<#item>), true)
                        }
                        elem => (elem.clone(), true),
                    },
                    Type::Reference(r) => {
                        return Err(syn::Error::new_spanned(
                            r,
                            "node inputs are shared values: take `&T` or `T`, not `&mut T`",
                        ));
                    }
                    other => (other.clone(), false),
                };
                Ok(Param { ident, ty, by_ref })
            }
        })
        .collect()
}

/// The return type without `Result<..>`, and whether it was a `Result`.
fn unwrap_result(ret: &ReturnType) -> syn::Result<(Type, bool)> {
    let ty = match ret {
        ReturnType::Default => {
            return Err(syn::Error::new_spanned(ret, "a node must return its output value(s)"));
        }
        ReturnType::Type(_, ty) => (**ty).clone(),
    };
    if let Type::Path(path) = &ty
        && let Some(last) = path.path.segments.last()
        && last.ident == "Result"
        && let PathArguments::AngleBracketed(args) = &last.arguments
        && let Some(GenericArgument::Type(ok)) = args.args.first()
    {
        return Ok((ok.clone(), true));
    }
    Ok((ty, false))
}

/// Per parameter, whether it is declared `constant`; every declared name
/// must be a parameter, and only a batch implementation takes constants.
fn constant_flags(options: &Options, params: &[Param]) -> syn::Result<Vec<bool>> {
    if let Some(first) = options.constant.first()
        && options.batch.is_none()
    {
        return Err(syn::Error::new_spanned(
            first,
            "`constant` tells the batch implementation which inputs it takes once per call; add `batch = your_batch_fn`",
        ));
    }
    for name in &options.constant {
        if !params.iter().any(|p| p.ident == name.value()) {
            let known: Vec<String> = params.iter().map(|p| p.ident.to_string()).collect();
            return Err(syn::Error::new_spanned(
                name,
                format!(
                    "`constant` names '{}', which is not a parameter (parameters: {})",
                    name.value(),
                    known.join(", ")
                ),
            ));
        }
    }
    Ok(params
        .iter()
        .map(|p| options.constant.iter().any(|name| p.ident == name.value()))
        .collect())
}

fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn expand(attr: TokenStream2, item: TokenStream2) -> syn::Result<TokenStream2> {
    let version = fnv1a(&format!("{attr} {item}"));
    let options = parse_options(attr)?;
    let func: ItemFn = syn::parse2(item)?;
    if !func.sig.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(
            &func.sig.generics,
            "a node cannot be generic: its input and output types must be known",
        ));
    }
    let fn_name = &func.sig.ident;
    let node_name = options.name.clone().unwrap_or_else(|| fn_name.to_string());
    let params = params(&func)?;
    let (ret, fallible) = unwrap_result(&func.sig.output)?;
    let output_types: Vec<Type> = if options.outputs.len() == 1 {
        vec![ret.clone()]
    } else {
        match &ret {
            Type::Tuple(t) if t.elems.len() == options.outputs.len() => t.elems.iter().cloned().collect(),
            other => {
                return Err(syn::Error::new_spanned(
                    other,
                    format!(
                        "#[node] declares {} outputs, so the function must return a tuple of {} values",
                        options.outputs.len(),
                        options.outputs.len()
                    ),
                ));
            }
        }
    };
    let is_async = func.sig.asyncness.is_some();
    let vis = &func.vis;

    let input_decls = params.iter().map(|p| {
        let ty = &p.ty;
        let name = p.ident.to_string();
        quote!(.input::<#ty>(#name))
    });
    let output_decls = options
        .outputs
        .iter()
        .zip(&output_types)
        .map(|(name, ty)| quote!(.output::<#ty>(#name)));

    let constant = constant_flags(&options, &params)?;
    // Arguments arrive owned, in parameter order: `T` parameters take
    // theirs (moved unless the engine still shares it), `&T` ones borrow.
    let bind_args: Vec<TokenStream2> = params
        .iter()
        .map(|p| {
            let ident = &p.ident;
            let ty = &p.ty;
            let name = p.ident.to_string();
            if p.by_ref {
                let held = format_ident!("__held_{}", ident);
                quote! {
                    let #held = __nf::next(&mut __args, #name)?;
                    let #ident: &#ty = __nf::borrow::<#ty>(&#held, #name)?;
                }
            } else {
                quote!(let #ident: #ty = __nf::take::<#ty>(__nf::next(&mut __args, #name)?, #name)?;)
            }
        })
        .collect();
    let call_args: Vec<&syn::Ident> = params.iter().map(|p| &p.ident).collect();
    let outs: Vec<syn::Ident> = (0..output_types.len()).map(|i| format_ident!("__o{i}")).collect();
    let destructure = if outs.len() == 1 {
        let o = &outs[0];
        quote!(let #o = __result;)
    } else {
        quote!(let (#(#outs),*) = __result;)
    };
    let fail = if fallible {
        quote!(let __result = __result.map_err(__nf::box_error)?;)
    } else {
        quote!()
    };
    let n_out = outs.len();

    let call = if is_async {
        quote! {
            .asynchronous(|__args: ::std::vec::Vec<__nf::Value>| {
                ::std::boxed::Box::pin(async move {
                    let mut __args = __args.into_iter();
                    #(#bind_args)*
                    let __result = super::#fn_name(#(#call_args),*).await;
                    #fail
                    #destructure
                    let mut __out = ::std::vec::Vec::with_capacity(#n_out);
                    #(__out.push(__nf::Value::new(#outs));)*
                    ::std::result::Result::Ok(__out)
                })
            })
        }
    } else {
        quote! {
            .sync(|__args: ::std::vec::Vec<__nf::Value>, __out: &mut ::std::vec::Vec<__nf::Value>| {
                let mut __args = __args.into_iter();
                #(#bind_args)*
                let __result = super::#fn_name(#(#call_args),*);
                #fail
                #destructure
                #(__out.push(__nf::Value::new(#outs));)*
                ::std::result::Result::Ok(())
            })
        }
    };

    // A batch implementation's body is part of the node's definition: its
    // `#[batch]` constant (a missing one is a compile error naming it).
    let version = match &options.batch {
        None => quote!(#version),
        Some(path) => {
            let mut constant = path.clone();
            if let Some(last) = constant.segments.last_mut() {
                last.ident = batch_version_name(&last.ident);
                last.arguments = PathArguments::None;
            }
            quote!(__nf::fold_version(#version, #constant))
        }
    };
    let batch = options.batch.as_ref().map(|path| {
        let columns = params.iter().zip(&constant).map(|(p, &constant)| {
            let ident = &p.ident;
            let ty = &p.ty;
            let name = p.ident.to_string();
            if constant {
                let held = format_ident!("__held_{}", ident);
                quote! {
                    let #held = __nf::next(&mut __cols, #name)?;
                    let #ident: &#ty = __nf::constant::<#ty>(&#held, #name)?;
                }
            } else {
                quote!(let #ident: ::std::vec::Vec<#ty> = __nf::column::<#ty>(__nf::next(&mut __cols, #name)?, #name)?;)
            }
        });
        let idents = params.iter().map(|p| &p.ident);
        let typed_outs = outs
            .iter()
            .zip(&output_types)
            .map(|(o, ty)| quote!(let #o: ::std::vec::Vec<#ty> = #o;));
        quote! {
            .batch(|__cols: ::std::vec::Vec<::std::vec::Vec<__nf::Value>>| {
                let mut __cols = __cols.into_iter();
                #(#columns)*
                let __result = #path(#(#idents),*);
                #fail
                #destructure
                #(#typed_outs)*
                ::std::result::Result::Ok(::std::vec![#(__nf::values(#outs)),*])
            })
        }
    });
    let constant_decls = options.constant.iter().map(|name| quote!(.constant(#name)));
    let batch_size = options.batch_size.map(|n| quote!(.batch_size(#n)));
    let concurrency = options.concurrency.map(|n| quote!(.concurrency(#n)));
    let cache = options.cache.then(|| quote!(.cache(true)));
    let doc = format!("The pipeline node made from [`{fn_name}()`](fn@{fn_name}) by `#[node]`.");

    Ok(quote! {
        #func

        #[doc = #doc]
        #[allow(non_snake_case, unused_imports, unused_mut, clippy::module_name_repetitions)]
        #vis mod #fn_name {
            use super::*;
            use ::nodefusion::__private as __nf;

            /// Builds the node.
            pub fn node() -> ::nodefusion::Node {
                ::nodefusion::Node::builder(#node_name)
                    .id(::std::module_path!())
                    .version(#version)
                    #(#input_decls)*
                    #(#output_decls)*
                    #call
                    #batch
                    #(#constant_decls)*
                    #batch_size
                    #concurrency
                    #cache
                    .build()
            }

            __nf::inventory::submit! {
                __nf::NodeRegistration::new(::std::module_path!(), node)
            }
        }
    })
}

/// The macro's error messages, checked on the expansion itself (what a
/// compile-fail test would show, without compiling a crate per case).
#[cfg(test)]
mod tests {
    use super::expand;
    use proc_macro2::TokenStream as TokenStream2;
    use quote::quote;

    fn error_of(attr: TokenStream2, item: TokenStream2) -> String {
        match expand(attr, item) {
            Ok(tokens) => panic!("expected an error, got {tokens}"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn each_mistake_gets_its_message() {
        let cases = [
            (
                quote!(),
                quote!(
                    fn f(x: i64) -> i64 {
                        x
                    }
                ),
                "#[node] needs its output name(s): #[node(output = \"name\")] or #[node(output = (\"a\", \"b\"))]",
            ),
            (
                quote!(output = "y", speed = 3),
                quote!(
                    fn f(x: i64) -> i64 {
                        x
                    }
                ),
                "unknown #[node] option; expected output, batch, constant, batch_size, concurrency, cache or name",
            ),
            (
                quote!(output = y),
                quote!(
                    fn f(x: i64) -> i64 {
                        x
                    }
                ),
                "expected a string literal",
            ),
            (
                quote!(output = "y"),
                quote!(
                    fn f(&self) -> i64 {
                        1
                    }
                ),
                "a node is a free function; methods cannot be nodes",
            ),
            (
                quote!(output = "y"),
                quote!(
                    fn f((a, b): (i64, i64)) -> i64 {
                        a + b
                    }
                ),
                "node parameters must be plain names: the name is the input's name",
            ),
            (
                quote!(output = "y"),
                quote!(
                    fn f(x: &mut i64) -> i64 {
                        *x
                    }
                ),
                "node inputs are shared values: take `&T` or `T`, not `&mut T`",
            ),
            (
                quote!(output = "y"),
                quote!(
                    fn f(x: i64) {}
                ),
                "a node must return its output value(s)",
            ),
            (
                quote!(output = "y"),
                quote!(
                    fn f<T>(x: T) -> T {
                        x
                    }
                ),
                "a node cannot be generic: its input and output types must be known",
            ),
            (
                quote!(output = ("a", "b")),
                quote!(
                    fn f(x: i64) -> i64 {
                        x
                    }
                ),
                "#[node] declares 2 outputs, so the function must return a tuple of 2 values",
            ),
            (
                quote!(output = "y", output = "z"),
                quote!(
                    fn f(x: i64) -> i64 {
                        x
                    }
                ),
                "the outputs are given twice; name them all in one: output = (\"a\", \"b\")",
            ),
            (
                quote!(output = "y", batch = fs, constant = "x", constant = "factor"),
                quote!(
                    fn f(x: i64, factor: i64) -> i64 {
                        x * factor
                    }
                ),
                "`constant` is given twice; list every constant input once: constant = (\"a\", \"b\")",
            ),
            (
                quote!(output = "y", constant = "x"),
                quote!(
                    fn f(x: i64) -> i64 {
                        x
                    }
                ),
                "`constant` tells the batch implementation which inputs it takes once per call; add `batch = your_batch_fn`",
            ),
            (
                quote!(output = "y", batch = fs, constant = ("x", "model")),
                quote!(
                    fn f(x: i64, factor: i64) -> i64 {
                        x * factor
                    }
                ),
                "`constant` names 'model', which is not a parameter (parameters: x, factor)",
            ),
        ];
        for (attr, item, expected) in cases {
            assert_eq!(error_of(attr.clone(), item), expected, "for #[node({attr})]");
        }
    }

    #[test]
    fn constants_are_declared_on_the_node_and_borrowed_by_the_batch_call() {
        let tokens = expand(
            quote!(output = "y", batch = scale_all, constant = "factor"),
            quote!(
                fn scale(x: i64, factor: &i64) -> i64 {
                    x * factor
                }
            ),
        )
        .unwrap()
        .to_string();
        assert!(tokens.contains(". constant (\"factor\")"), "{tokens}");
        assert!(tokens.contains("__nf :: constant :: < i64 >"), "{tokens}");
        assert!(tokens.contains("__nf :: column :: < i64 >"), "{tokens}");
    }

    #[test]
    fn a_batch_function_s_body_is_in_the_node_s_version() {
        let version_of = |body: TokenStream2| {
            let tokens = super::expand_batch(quote!(), body).unwrap().to_string();
            let constant = tokens
                .split("const __nodefusion_batch_version_of_double_all : u64 = ")
                .nth(1)
                .unwrap_or_else(|| panic!("no version constant in {tokens}"));
            constant.split(';').next().unwrap().trim().to_string()
        };
        let doubled = version_of(quote!(
            fn double_all(x: Vec<i64>) -> Vec<i64> {
                x.into_iter().map(|x| x * 2).collect()
            }
        ));
        let tripled = version_of(quote!(
            fn double_all(x: Vec<i64>) -> Vec<i64> {
                x.into_iter().map(|x| x * 3).collect()
            }
        ));
        assert_ne!(doubled, tripled);

        let node = expand(
            quote!(output = "y", batch = kernels::double_all),
            quote!(
                fn double(x: i64) -> i64 {
                    x * 2
                }
            ),
        )
        .unwrap()
        .to_string();
        assert!(
            node.contains("__nf :: fold_version (")
                && node.contains("kernels :: __nodefusion_batch_version_of_double_all"),
            "{node}"
        );
        assert_eq!(
            super::expand_batch(
                quote!(fast),
                quote!(
                    fn f() {}
                )
            )
            .unwrap_err()
            .to_string(),
            "#[batch] takes no options"
        );
    }
}
