/* FMA peak of one core: 12 independent chains of F32 FMA on ymm and zmm and of vdpbf16ps on zmm (AVX512_BF16: 2 BF16
 * products per F32 lane), then the clock (a chain of dependent integer adds, one per cycle; one chain of FMAs), 3 rounds each (build
 * with -O3 -funroll-all-loops -march=x86-64-v4 -mavx512bf16, as scripts/bench-f32-roofline.sh does). */
#include <immintrin.h>
#include <stdio.h>
#include <time.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
int main(){
  __m256 a[12]; __m256 b=_mm256_set1_ps(0.999f), c=_mm256_set1_ps(0.001f);
  for(int i=0;i<12;i++)a[i]=_mm256_set1_ps(i);
  long n=400000000L/12;
  for (int rep=0;rep<3;rep++){
  double t=now();
  for(long k=0;k<n;k++){ for(int i=0;i<12;i++) a[i]=_mm256_fmadd_ps(a[i],b,c);}
  t=now()-t; printf("ymm: %.1f GFLOP/s\n", n*12*16.0/t/1e9);}
  __m512 z[12]; __m512 zb=_mm512_set1_ps(0.999f), zc=_mm512_set1_ps(0.001f);
  for(int i=0;i<12;i++)z[i]=_mm512_set1_ps(i);
  for (int rep=0;rep<3;rep++){
  double t=now();
  for(long k=0;k<n;k++){ for(int i=0;i<12;i++) z[i]=_mm512_fmadd_ps(z[i],zb,zc);}
  t=now()-t; printf("zmm: %.1f GFLOP/s\n", n*12*32.0/t/1e9);}
  __m512 d[12]; const __m512bh p = (__m512bh)_mm512_set1_epi16(0x3f80), q = (__m512bh)_mm512_set1_epi16(0x3a83);
  for(int i=0;i<12;i++)d[i]=_mm512_set1_ps(i);
  for (int rep=0;rep<3;rep++){
  double t=now();
  for(long k=0;k<n;k++){ for(int i=0;i<12;i++) d[i]=_mm512_dpbf16_ps(d[i],p,q);}
  t=now()-t; printf("vdpbf16ps zmm: %.1f GFLOP/s\n", n*12*64.0/t/1e9);}
  for (int rep=0;rep<3;rep++){
    long x=0, it=400000000L;
    double t=now();
    /* 8 dependent adds per iteration: 8 cycles; the loop counter is a chain of its own */
    __asm__ volatile("1:\n\tadd $1,%0\n\tadd $1,%0\n\tadd $1,%0\n\tadd $1,%0\n\tadd $1,%0\n\tadd $1,%0\n\tadd $1,%0\n\tadd $1,%0\n\tdec %1\n\tjnz 1b"
                     : "+r"(x), "+r"(it));
    t=now()-t; printf("clock: %.3f GHz\n", 400000000.0*8/t/1e9);}
  /* one chain of zmm FMAs: 4 cycles each on Zen 4 and 5 (so 8 FLOP per cycle) */
  for (int rep=0;rep<3;rep++){
  __m512 one=_mm512_set1_ps(1.0f); double t=now();
  for(long k=0;k<n;k++) one=_mm512_fmadd_ps(one,zb,zc);
  t=now()-t; z[0]=_mm512_add_ps(z[0],one); printf("one zmm FMA chain: %.2f G FMA/s (x 4 cycles: %.3f GHz)\n", n/t/1e9, 4*n/t/1e9);}
  float s=0; float o[16]; for(int i=0;i<12;i++){_mm256_storeu_ps(o,a[i]);s+=o[0];_mm512_storeu_ps(o,z[i]);s+=o[0];_mm512_storeu_ps(o,d[i]);s+=o[0];} printf("%f\n",s);
}
