# Writes the fuzz seed corpus (fuzz/seeds/v4, fuzz/seeds/v6): valid packets built by hand
# from the RFC 791/8200/768/793/792/4443 header layouts, each followed by the control
# byte 0x03 that `selfcheck::fuzz_direction` reads. Run from fuzz/seeds: python3 ../make_seeds.py
import struct, os
def csum(b):
    if len(b)%2: b+=b'\0'
    s=sum(struct.unpack('!%dH'%(len(b)//2),b))
    while s>>16: s=(s&0xffff)+(s>>16)
    return (~s)&0xffff
def ip4(src,dst,proto,payload,ttl=64,flags=0,off=0,ident=1,opts=b''):
    ihl=5+len(opts)//4
    h=struct.pack('!BBHHHBBH4s4s',0x40|ihl,0,20+len(opts)+len(payload),ident,(flags<<13)|off,ttl,proto,0,bytes(src),bytes(dst))+opts
    h=h[:10]+struct.pack('!H',csum(h))+h[12:]
    return h+payload
def ip6(src,dst,nh,payload,hl=64):
    return struct.pack('!IHBB16s16s',0x60000000,len(payload),nh,hl,bytes(src),bytes(dst))+payload
def l4csum4(src,dst,proto,seg,off):
    ph=bytes(src)+bytes(dst)+struct.pack('!BBH',0,proto,len(seg))
    c=csum(ph+seg); return seg[:off]+struct.pack('!H',c)+seg[off+2:]
def l4csum6(src,dst,nh,seg,off):
    ph=bytes(src)+bytes(dst)+struct.pack('!IxxxB',len(seg),nh)
    c=csum(ph+seg); return seg[:off]+struct.pack('!H',c)+seg[off+2:]
C4=bytes([192,0,2,2]); S4=bytes([198,51,100,130])
C6=bytes.fromhex('20010db8000100000000000000000002'); S6=bytes.fromhex('20010db8006400000000000000000000')[:12]+S4
udp=lambda sp,dp,data: struct.pack('!HHHH',sp,dp,8+len(data),0)+data
tcp=lambda sp,dp: struct.pack('!HHIIBBHHH',sp,dp,1,0,0x50,0x02,65535,0,0)
seeds={}
seeds['v6_udp']=ip6(C6,S6,17,l4csum6(C6,S6,17,udp(40000,53,b'hello'*4),6))
seeds['v6_tcp']=ip6(C6,S6,6,l4csum6(C6,S6,6,tcp(40000,80),16))
echo6=struct.pack('!BBHHH',128,0,0,7,1)+b'ping'*8
seeds['v6_echo']=ip6(C6,S6,58,l4csum6(C6,S6,58,echo6,2))
inner6=ip6(S6,C6,17,l4csum6(S6,C6,17,udp(53,40000,b'x'*20),6))
err6=struct.pack('!BBHI',1,4,0,0)+inner6
seeds['v6_icmp_err']=ip6(C6,S6,58,l4csum6(C6,S6,58,err6,2))
frag=struct.pack('!BBHI',17,0,(0<<3)|1,0x12345678)
seg=l4csum6(C6,S6,17,udp(40000,53,b'f'*64),6)
seeds['v6_frag']=ip6(C6,S6,44,frag+seg[:48])
hbh=struct.pack('!BB',43,0)+b'\x01\x04\0\0\0\0'
rt=struct.pack('!BBBB',17,2,0,1)+b'\0'*4+C6
seeds['v6_ext_rt']=ip6(C6,S6,0,hbh+rt+seg)
seeds['v4_udp']=ip4(S4,C4,17,l4csum4(S4,C4,17,udp(53,40000,b'hello'*4),6))
seeds['v4_tcp']=ip4(S4,C4,6,l4csum4(S4,C4,6,tcp(80,40000),16),flags=2)
e4=struct.pack('!BBHHH',0,0,0,7,1)+b'pong'*8
seeds['v4_echo']=ip4(S4,C4,1,e4[:2]+struct.pack('!H',csum(e4))+e4[4:])
in4=ip4(C4,S4,17,l4csum4(C4,S4,17,udp(40000,53,b'y'*20),6),ttl=63)
fn=struct.pack('!BBHHH',3,4,0,0,1400)+in4
seeds['v4_frag_needed']=ip4(S4,C4,1,fn[:2]+struct.pack('!H',csum(fn))+fn[4:])
seg4=l4csum4(S4,C4,17,udp(53,40000,b'g'*2000),6)
seeds['v4_big_df0']=ip4(S4,C4,17,seg4)
seeds['v4_fragment']=ip4(S4,C4,17,seg4[:1000],flags=1,ident=99)
lsrr=bytes([131,7,4,203,0,113,9,0])
seeds['v4_lsrr']=ip4(S4,C4,17,seg4[:100],opts=lsrr)
for name,b in seeds.items():
    d='v6' if name.startswith('v6') else 'v4'
    os.makedirs(d,exist_ok=True)
    open(f'{d}/{name}','wb').write(b+b'\x03')
# fuzz/seeds/gso: field bytes read by `selfcheck::gso_input_from_bytes` (offload_segments
# target): mode (bit 0 IPv6 in, 1 UDP, 2 DF, 3 partial sum with length, 4 ECN, 5-6
# IPv4 options / IPv6 extension header, 7 EAM address), gso_size-1 (be16, mod 3000),
# segments-1 (mod 8), last-segment bytes (be16), TOS, TTL, TCP flags, seq (2 x be16),
# ports, TCP option words (mod 11) + option bytes, payload seed, then variant bytes.
def gso(mode,gso_size,nseg,tail,ttl=64,flags=0x10,opts=b'',tos=0,extra=b''):
    b=struct.pack('!BHBHBBBHHHH',mode,gso_size-1,nseg-1,tail,tos,ttl,flags,0,1,40000,443)
    if not mode&2: b+=bytes([len(opts)//4])+opts
    return b+bytes([7])+extra
ts=bytes([1,1,8,10,0,0,0,1,0,0,0,2])
gseeds={
 'tcp6_1440x4':gso(0b1001,1440,4,100,opts=ts),
 'tcp6_small':gso(0b0001,536,3,0,flags=0x19),
 'tcp4_df_1460x3':gso(0b1100,1460,3,500,opts=ts),
 'tcp4_nodf_1400x2':gso(0b1000,1400,2,7),
 'tcp4_ecn_cwr':gso(0b10100,1000,3,1,flags=0x90),
 'udp6_1200x5':gso(0b1011,1200,5,33),
 'udp4_df_1000x3':gso(0b0110,1000,3,999),
 'udp4_nodf_1300x2':gso(0b1010,1300,2,0),
 'tcp6_ttl1':gso(0b0001,1200,2,0,ttl=1),
 'tcp6_too_big':gso(0b0001,1600,2,0),
 'tcp4_eam_opts':gso(0b11100100,1200,2,10,extra=bytes([9,1,1,1,1,0,0])),
 'udp6_hbh':gso(0b00100011,700,3,5),
 'tcp6_dstopts':gso(0b01000001,900,2,5),
}
os.makedirs('gso',exist_ok=True)
for name,b in gseeds.items():
    open(f'gso/{name}','wb').write(b)
print(len(seeds)+len(gseeds))
