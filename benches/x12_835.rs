//! The 835 reader (`billing::x12::reader::read_remittances`, a pure function): a fixture-sized
//! file (`tests/fixtures/x12/835/secondary-payment.835`, 2 claims) and a synthesized remittance
//! paying 10 000 claims of 4 lines (the shape `bench/run` posts).
//!
//! `cargo bench --bench x12_835 -- --quick`

use std::fmt::Write as _;
use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use officina::billing::x12::reader::remit835::read_remittances;

const FIXTURE: &[u8] = include_bytes!("../tests/fixtures/x12/835/secondary-payment.835");

/// An 835 paying `n` claims of 4 lines in full, balanced (as `make_835` in `bench/run`).
fn synthesized(n: usize) -> Vec<u8> {
    let mut body = String::new();
    let mut segments = 0usize;
    let mut total = 0i64;
    let mut seg = |body: &mut String, s: &str| {
        body.push_str(s);
        body.push_str("~\n");
        segments += 1;
    };
    for i in 1..=n {
        let lines: Vec<i64> = (0..4).map(|k| 2500 + 1000 * k).collect();
        let charge: i64 = lines.iter().sum();
        total += charge;
        let amt = format!("{}.{:02}", charge / 100, charge % 100);
        seg(
            &mut body,
            &format!("CLP*C{i:09}*1*{amt}*{amt}**12*PCN{i:07}"),
        );
        seg(&mut body, &format!("NM1*QC*1*BENCH*PAT****MI*XJH{i:09}"));
        for (k, cents) in lines.iter().enumerate() {
            let la = format!("{}.{:02}", cents / 100, cents % 100);
            seg(&mut body, &format!("SVC*HC:99213*{la}*{la}**1"));
            seg(&mut body, "DTM*472*20251001");
            seg(&mut body, &format!("REF*6R*L{i:08}{k}"));
        }
    }
    let head = [
        format!(
            "BPR*I*{}.{:02}*C*ACH*CCP*01*999999999*DA*123456*1234567890**01*999999999*DA*654321*20261201",
            total / 100,
            total % 100
        ),
        "TRN*1*BENCH1*1999999999".into(),
        "DTM*405*20261201".into(),
        "N1*PR*ACME HEALTH*XV*ACME1".into(),
        "N3*1 PAYER WAY".into(),
        "N4*HARTFORD*CT*06101".into(),
        "PER*BL*PAYER HELP*TE*8005551212".into(),
        "N1*PE*BENCH CLINIC*XX*1234567893".into(),
        "LX*1".into(),
    ];
    let mut out = String::new();
    out.push_str(
        "ISA*00*          *00*          *ZZ*PAYERCH        *ZZ*SUBMITTERID    \
         *261201*0800*^*00501*000000201*0*P*:~\n",
    );
    out.push_str("GS*HP*PAYERCH*SUBMITTERID*20261201*0800*201*X*005010X221A1~\n");
    out.push_str("ST*835*0001~\n");
    for h in &head {
        out.push_str(h);
        out.push_str("~\n");
    }
    out.push_str(&body);
    let _ = writeln!(out, "SE*{}*0001~", head.len() + segments + 2);
    out.push_str("GE*1*201~\nIEA*1*000000201~\n");
    out.into_bytes()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("read_remittances");
    g.throughput(Throughput::Bytes(FIXTURE.len() as u64));
    g.bench_function("fixture secondary-payment (2 claims)", |b| {
        b.iter(|| black_box(read_remittances(black_box(FIXTURE)).map(|r| r.len())))
    });
    let big = synthesized(10_000);
    match read_remittances(&big) {
        Ok(r) if r.first().map(|t| t.claims.len()) == Some(10_000) => {}
        other => panic!(
            "the synthesized 835 does not read back: {:?}",
            other.map(|r| r.len())
        ),
    }
    g.throughput(Throughput::Bytes(big.len() as u64));
    g.sample_size(10);
    g.bench_function("synthesized 10 000 claims x 4 lines", |b| {
        b.iter(|| black_box(read_remittances(black_box(&big)).map(|r| r.len())))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
