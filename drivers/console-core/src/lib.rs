//! # console-core: the OS-independent half of the framebuffer console driver
//!
//! The console driver is a user program that owns the boot framebuffer and the PS/2
//! keyboard and offers a text terminal to the shell. Everything it does that does not touch
//! hardware or the OS lives here, as pure logic (`no_std` + `alloc`, no `unsafe`, no I/O)
//! so that it can be unit-tested on the host:
//!
//! * [`terminal`]: the [`Terminal`], a grid of character cells fed the bytes a program
//!   writes (printable ASCII, `\r`, `\n`, BS, TAB and the VT100 subset a line editor emits),
//!   which records which rows changed ([`Damage`]);
//! * [`render`]: the [`Renderer`], which draws the damaged part of a [`Terminal`] and its
//!   cursor into a linear framebuffer described by a [`Surface`];
//! * [`keyboard`]: the [`Keyboard`], which decodes PS/2 scancode set 1 bytes (US layout)
//!   into the bytes a terminal sends ([`KeyBytes`]).
//!
//! The driver's loop is then: for each scancode read from the keyboard, send
//! [`Keyboard::feed`]'s bytes to the program reading the console; for each chunk the program
//! writes, call [`Terminal::feed`] and then [`Renderer::draw`] into the mapped framebuffer.
//! No input makes any of these panic.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod keyboard;
pub mod render;
pub mod terminal;

pub use keyboard::{KeyBytes, Keyboard};
pub use render::{cell_size, Lines, PixelFormat, RenderError, Renderer, Surface};
pub use terminal::{Damage, Terminal};
