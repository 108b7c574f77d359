//! A small BPF assembler: instruction encoding and forward labels, enough for the
//! straight-line programs of the XDP dataplane and the TUN steering, written in Rust so
//! that the build needs no BPF toolchain.

use super::bpf::Map;

/// Instruction encoding (include/uapi/linux/bpf.h, Documentation/bpf/standardization).
pub mod op {
    pub const LDX_W: u8 = 0x61;
    pub const LDX_H: u8 = 0x69;
    pub const STX_W: u8 = 0x63;
    pub const ST_W: u8 = 0x62;
    pub const MOV64_X: u8 = 0xbf;
    pub const MOV64_K: u8 = 0xb7;
    pub const ADD64_K: u8 = 0x07;
    pub const JEQ_K: u8 = 0x15;
    pub const JNE_K: u8 = 0x55;
    pub const JGT_X: u8 = 0x2d;
    pub const JA: u8 = 0x05;
    pub const CALL: u8 = 0x85;
    pub const EXIT: u8 = 0x95;
    pub const LD_IMM64: u8 = 0x18;
    /// `src` of an LD_IMM64 whose immediate is a map descriptor.
    pub const PSEUDO_MAP_FD: u8 = 1;
}

pub const HELPER_MAP_LOOKUP: i32 = 1;
pub const HELPER_REDIRECT_MAP: i32 = 51;

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> u64 {
    u64::from(code)
        | u64::from((src << 4) | (dst & 0xf)) << 8
        | u64::from(off as u16) << 16
        | u64::from(imm as u32) << 32
}

/// A small assembler with forward labels, enough for one straight program.
#[derive(Default)]
pub struct Asm {
    code: Vec<u64>,
    /// (instruction index, label) of jumps to patch.
    fixups: Vec<(usize, usize)>,
    labels: Vec<Option<usize>>,
}

impl Asm {
    pub fn new() -> Self {
        Asm {
            code: Vec::new(),
            fixups: Vec::new(),
            labels: Vec::new(),
        }
    }
    pub fn label(&mut self) -> usize {
        self.labels.push(None);
        self.labels.len() - 1
    }
    pub fn bind(&mut self, l: usize) {
        self.labels[l] = Some(self.code.len());
    }
    pub fn emit(&mut self, code: u8, dst: u8, src: u8, off: i16, imm: i32) {
        self.code.push(insn(code, dst, src, off, imm));
    }
    pub fn jump(&mut self, code: u8, dst: u8, src: u8, imm: i32, to: usize) {
        self.fixups.push((self.code.len(), to));
        self.emit(code, dst, src, 0, imm);
    }
    /// A 64-bit constant into `dst` (two instructions).
    pub fn ld_imm64(&mut self, dst: u8, v: u64) {
        self.emit(op::LD_IMM64, dst, 0, 0, v as u32 as i32);
        self.emit(0, 0, 0, 0, (v >> 32) as u32 as i32);
    }

    pub fn ld_map(&mut self, dst: u8, map: &Map) {
        self.emit(op::LD_IMM64, dst, op::PSEUDO_MAP_FD, 0, map.raw_fd());
        self.emit(0, 0, 0, 0, 0);
    }
    pub fn finish(mut self) -> Vec<u64> {
        for &(at, l) in &self.fixups {
            let target = self.labels[l].unwrap_or(at + 1);
            let off = (target as i64 - at as i64 - 1) as i16;
            self.code[at] = (self.code[at] & !(0xffff << 16)) | u64::from(off as u16) << 16;
        }
        self.code
    }
}
