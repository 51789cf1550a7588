//! The `#[node]` attribute of nodefusion. See `nodefusion::node` for the
//! user-facing documentation; this crate only generates code.

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

#[derive(Default)]
struct Options {
    outputs: Vec<String>,
    batch: Option<syn::Path>,
    batch_size: Option<usize>,
    concurrency: Option<usize>,
    name: Option<String>,
}

fn parse_options(attr: TokenStream2) -> syn::Result<Options> {
    let mut options = Options::default();
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("output") || meta.path.is_ident("outputs") {
            let expr: Expr = meta.value()?.parse()?;
            options.outputs = output_names(&expr)?;
            Ok(())
        } else if meta.path.is_ident("batch") {
            options.batch = Some(meta.value()?.parse()?);
            Ok(())
        } else if meta.path.is_ident("batch_size") {
            options.batch_size = Some(meta.value()?.parse::<syn::LitInt>()?.base10_parse()?);
            Ok(())
        } else if meta.path.is_ident("concurrency") {
            options.concurrency = Some(meta.value()?.parse::<syn::LitInt>()?.base10_parse()?);
            Ok(())
        } else if meta.path.is_ident("name") {
            options.name = Some(meta.value()?.parse::<LitStr>()?.value());
            Ok(())
        } else {
            Err(meta.error("unknown #[node] option; expected output, batch, batch_size, concurrency or name"))
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

fn output_names(expr: &Expr) -> syn::Result<Vec<String>> {
    let lit = |e: &Expr| match e {
        Expr::Lit(ExprLit { lit: Lit::Str(s), .. }) => Ok(s.value()),
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

    let bind_args: Vec<TokenStream2> = params
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let ident = &p.ident;
            let ty = &p.ty;
            let name = p.ident.to_string();
            quote!(let #ident: &#ty = __nf::arg::<#ty>(&__args, #i, #name)?;)
        })
        .collect();
    let call_args: Vec<TokenStream2> = params
        .iter()
        .map(|p| {
            let ident = &p.ident;
            if p.by_ref {
                quote!(#ident)
            } else {
                quote!(::std::clone::Clone::clone(#ident))
            }
        })
        .collect();
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
            .sync(|__args: &[__nf::Value], __out: &mut ::std::vec::Vec<__nf::Value>| {
                #(#bind_args)*
                let __result = super::#fn_name(#(#call_args),*);
                #fail
                #destructure
                #(__out.push(__nf::Value::new(#outs));)*
                ::std::result::Result::Ok(())
            })
        }
    };

    let batch = options.batch.as_ref().map(|path| {
        let columns = params.iter().enumerate().map(|(i, p)| {
            let ident = &p.ident;
            let ty = &p.ty;
            let name = p.ident.to_string();
            quote!(let #ident: ::std::vec::Vec<#ty> = __nf::column::<#ty>(__cols, #i, #name)?;)
        });
        let idents = params.iter().map(|p| &p.ident);
        let typed_outs = outs
            .iter()
            .zip(&output_types)
            .map(|(o, ty)| quote!(let #o: ::std::vec::Vec<#ty> = #o;));
        quote! {
            .batch(|__cols: &[::std::vec::Vec<__nf::Value>]| {
                #(#columns)*
                let __result = #path(#(#idents),*);
                #fail
                #destructure
                #(#typed_outs)*
                ::std::result::Result::Ok(::std::vec![#(__nf::values(#outs)),*])
            })
        }
    });
    let batch_size = options.batch_size.map(|n| quote!(.batch_size(#n)));
    let concurrency = options.concurrency.map(|n| quote!(.concurrency(#n)));
    let doc = format!("The pipeline node made from [`{fn_name}()`](fn@{fn_name}) by `#[node]`.");

    Ok(quote! {
        #func

        #[doc = #doc]
        #[allow(non_snake_case, unused_imports, clippy::module_name_repetitions)]
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
                    #batch_size
                    #concurrency
                    .build()
            }

            __nf::inventory::submit! {
                __nf::NodeRegistration::new(::std::module_path!(), node)
            }
        }
    })
}
